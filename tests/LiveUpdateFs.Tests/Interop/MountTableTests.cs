using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Interop;

public sealed class MountTableTests
{
    [Test]
    [Description("docs/behaviour.md §11: an O_PATH fd opens nothing, so the holder scan never counts it (session node names are reused: an O_PATH fd kept from an earlier session would otherwise name a later one's holder)")]
    public void An_O_PATH_fd_has_no_mount_id_as_an_open_file()
    {
        string directory = Path.GetTempPath();
        using SafeFd? path = FileOps.OpenPath(directory);
        var (error, opened) = FileOps.OpenDirectory(directory);
        Assert.That(path, Is.Not.Null);
        Assert.That(error, Is.EqualTo(Errno.None));
        using (opened)
        {
            int mount = MountTable.MountIdOf("self", opened!.Fd);
            Assert.That(mount, Is.GreaterThan(0));
            Assert.That(MountTable.MountIdOf("self", path!.Fd), Is.EqualTo(mount), "the fd itself is on that mount");
            Assert.That(MountTable.MountIdOfOpenFile("self", opened.Fd), Is.EqualTo(mount));
            Assert.That(MountTable.MountIdOfOpenFile("self", path.Fd), Is.EqualTo(-1));
        }
    }
}
