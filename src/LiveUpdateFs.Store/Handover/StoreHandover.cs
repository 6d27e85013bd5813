using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Store.Handover;

/// <summary>
/// The persistence store as the target of reboots: one new generation per
/// image (<see cref="StoreImage"/>). The reboot state machine asks for an
/// image only while serving, so starting a generation (which removes
/// uncommitted leftovers) never touches a prepared one.
/// </summary>
/// <param name="files">The fds behind the preserved files.</param>
/// <param name="writers">Holds the processes that can write the memfds still
/// during a durable copy (one instant); null: copies run alongside them.</param>
public sealed class StoreHandover(StoreDirectory store, IStoreCheckpoints checkpoints, IHeldFiles files, ILogger log, ISnapshotWriters? writers = null)
    : IHandoverTarget
{
    private readonly ILogger _log = log.ForContext<StoreHandover>();

    public Errno NewImage(RebootMode mode, int? requester, TextWriter? progress, out IHandoverImage? image)
    {
        image = null;
        try
        {
            image = new StoreImage(store.BeginGeneration(), checkpoints, files, mode, progress, store.Path, _log,
                mode == RebootMode.Durable ? writers : null, requester);
            return Errno.None;
        }
        catch (StoreCorruptException ex)
        {
            _log.Error("Reboot refused: {Problem}. Move the store {Store} aside (its committed state is unreadable anyway) and reboot again",
                ex.Message, store.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Error("Reboot refused: cannot start a new generation in {Store}: {Problem}. Check its space and permissions", store.Path, ex.Message);
        }
        return Errno.EIO;
    }
}
