using System.Globalization;
using LiveUpdateFs.Interop;
using Serilog;

namespace LiveUpdateFs.Store.Handover;

/// <summary>
/// The memfds an in-place reboot carried into this instance: the previous
/// instance kept them open across its exec and named the generation's key in
/// <see cref="Variable"/>. Adopted at start, before anything could inherit
/// them further, and checked against the kept-file list (device and inode):
/// an fd number that is not the recorded file is never touched.
/// </summary>
public sealed class KeptMemfds
{
    public const string Variable = "LIVEUPDATEFS_KEPT";

    private readonly Dictionary<KeptDescriptor, SafeFd> _fds;

    private KeptMemfds(BootImage? image, Dictionary<KeptDescriptor, SafeFd> fds)
    {
        Image = image;
        _fds = fds;
    }

    public static readonly KeptMemfds None = new(null, []);

    /// <summary>The committed generation these fds belong to, as read at
    /// adoption (the first open need not read it again); null when this
    /// instance was not started by an in-place reboot.</summary>
    public BootImage? Image { get; }

    /// <summary>The key of <see cref="Image"/>; null without one.</summary>
    public ulong? Key => Image?.KeptKey;

    public static KeptMemfds Adopt(StoreDirectory store, ILogger log)
    {
        string? text = Environment.GetEnvironmentVariable(Variable);
        if (text is null)
            return None;
        Environment.SetEnvironmentVariable(Variable, null); // not for fusermount3 or anyone after
        if (!ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong key))
            return None;
        BootImage image;
        try
        {
            // Read only: the generation is marked consumed at the first open
            // of the device (StoredIncomingSessions), never here at start.
            image = store.LoadCommitted();
        }
        catch (IOException)
        {
            return None; // the first open reports the damage
        }
        if (image.KeptKey != key)
        {
            log.Warning("{Variable} names kept memfds of another generation than the committed one ({Generation}); none are adopted",
                Variable, image.Generation);
            return None;
        }
        var fds = new Dictionary<KeptDescriptor, SafeFd>();
        foreach (KeptDescriptor kept in image.Sessions.SelectMany(s => s.Files).Select(f => f.Kept).OfType<KeptDescriptor>())
        {
            var fd = new SafeFd(kept.Fd);
            var (error, stat) = MemfdOps.Stat(fd);
            if (error.IsError || stat.Dev != kept.Device || stat.Ino != kept.Inode || ProcessImage.SetCloseOnExec(fd, close: true).IsError)
            {
                fd.SetHandleAsInvalid(); // not ours to close
                log.Error("Kept memfd fd {Fd} (inode {Inode}) did not survive the exec; RETRIEVE_FD of its token fails with EIO", kept.Fd, kept.Inode);
                continue;
            }
            fds[kept] = fd;
        }
        return new KeptMemfds(image, fds);
    }

    /// <summary>The adopted fd of <paramref name="kept"/>, now the caller's; null when it did not survive.</summary>
    public SafeFd? Take(KeptDescriptor kept) => _fds.Remove(kept, out SafeFd? fd) ? fd : null;
}
