using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Interop;

/// <summary>The control commands trust a mountpoint by its
/// mountinfo line: type, owner (FUSE user_id=) and connection.</summary>
public sealed class MountEntryTests
{
    [Test]
    public void A_fuse_line_gives_its_type_owner_device_and_point()
    {
        MountEntry entry = MountEntry.Parse(
            "45 27 0:40 / /tmp/a\\040b/mnt rw,nosuid,nodev,relatime shared:12 - fuse.liveupdatefs liveupdatefs rw,user_id=65534,group_id=65534,default_permissions")!;

        Assert.That(entry.Id, Is.EqualTo(45));
        Assert.That(entry.Device, Is.EqualTo("0:40"));
        Assert.That(entry.Point, Is.EqualTo("/tmp/a b/mnt"), "\\040 is a space");
        Assert.That(entry.FsType, Is.EqualTo("fuse.liveupdatefs"));
        Assert.That(entry.FuseOwner, Is.EqualTo(65534u));
    }

    [Test]
    public void A_mount_without_user_id_has_no_fuse_owner()
    {
        MountEntry entry = MountEntry.Parse("22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw")!;

        Assert.That(entry.FsType, Is.EqualTo("proc"));
        Assert.That(entry.FuseOwner, Is.Null);
    }

    [Test]
    public void A_line_of_another_shape_is_not_an_entry() =>
        Assert.That(MountEntry.Parse("not a mountinfo line"), Is.Null);
}
