using System.Diagnostics;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host.Reboot;

/// <summary>
/// The reboot serialization into the persistence store, one new generation per
/// reboot. Durable: the memfds' data is copied in and the generation committed
/// before the freeze returns. In place: only the records are written; the
/// generation is committed right before the daemon execs into the next boot,
/// which inherits the memfds themselves (<see cref="RestartInPlace"/>, <see cref="KeptMemfds"/>).
/// </summary>
/// <param name="writers">Holds the processes that can write the memfds still
/// during a durable copy (one instant); null: copies run alongside them.</param>
public sealed class StoreHandover(Orchestrator orchestrator, StoreDirectory store, IStoreCheckpoints checkpoints, ILogger log,
    SnapshotWriters? writers = null)
    : IRebootFreezer
{
    private readonly ILogger _log = log.ForContext<StoreHandover>();
    private GenerationWriter? _inPlace;

    /// <summary>Called when the next boot should start in this process: stops serving.</summary>
    public Action? StopServing { get; set; }

    /// <summary>The prepared in-place generation once the reboot command asked
    /// for the restart; null otherwise.</summary>
    public GenerationWriter? RestartRequested { get; private set; }

    /// <summary>An in-place freeze happened and its generation is not committed:
    /// stopping without the restart must write the sessions durably.</summary>
    public bool InPlacePending => _inPlace is not null;

    public Errno FreezeForReboot(RebootMode mode, int? requester, TextWriter? progress, out HandoverSummary summary)
    {
        summary = default;
        var clock = Stopwatch.StartNew();
        GenerationWriter? writer = Begin();
        if (writer is null)
            return Errno.EIO;
        // In place the pages themselves go over, as on the kernel: nothing to hold still.
        if (mode == RebootMode.Durable && writers?.Stop(OutgoingMemfds(), requester) is { IsError: true } unstoppable)
        {
            writer.Dispose();
            return unstoppable;
        }
        Errno result = orchestrator.Freeze(new Image(writer, checkpoints, mode, progress), out summary);
        if (result.IsError)
        {
            writers?.ResumeAll("the freeze failed");
            writer.Dispose();
            return result;
        }
        if (mode == RebootMode.InPlace)
        {
            _inPlace = writer; // committed at the restart, or replaced by a durable one at a stop
            _log.Information("Generation {Generation} prepared in place in {Milliseconds} ms: the memfds stay open for the next boot",
                writer.Generation, clock.ElapsedMilliseconds);
            return Errno.None;
        }
        // A reboot's command ends the holders next, as a kexec ends every
        // process; they stay stopped until then. A stop of the daemon ends nobody.
        if (requester is null)
            writers?.ResumeAll("the daemon stops after the commit");
        else
            writers?.ResumeAfterCommit();
        writer.Dispose();
        _log.Information("Generation {Generation} committed in {Store} in {Milliseconds} ms", writer.Generation, store.Path, clock.ElapsedMilliseconds);
        WarnIfUnsynced(writer);
        return Errno.None;
    }

    /// <summary>A commit whose pointer switch could not be fsynced stands, but
    /// a power loss may undo it: worth a warning, not a failed reboot.</summary>
    public void WarnIfUnsynced(GenerationWriter writer)
    {
        if (writer.UnsyncedPointer.IsError)
            _log.Warning("Generation {Generation} is committed, but fsync of the store {Store} failed with {Errno}: after a power loss the store may come back with the previous generation. Check the disk",
                writer.Generation, store.Path, writer.UnsyncedPointer.Name);
    }

    public Errno RestartInPlace()
    {
        if (_inPlace is null)
            return Errno.EINVAL;
        if (checkpoints.Reach(FaultSwitch.Restart) is { IsError: true } fault)
            return fault;
        RestartRequested = _inPlace;
        StopServing?.Invoke();
        return Errno.None;
    }

    /// <summary>
    /// The daemon stops after an in-place freeze without restarting (SIGTERM,
    /// unmount, or a failed exec): the memfds die with this process, so the
    /// frozen sessions are copied into a durable generation instead.
    /// </summary>
    public Errno WriteInPlaceDurably(out HandoverSummary summary)
    {
        summary = default;
        _inPlace?.Dispose();
        _inPlace = null;
        RestartRequested = null;
        GenerationWriter? writer = Begin();
        if (writer is null)
            return Errno.EIO;
        // Losing the sessions would be worse than a copy that is not one instant: it goes on either way.
        if (writers?.Stop(OutgoingMemfds(), requester: null) is { IsError: true })
            _log.Warning("The sessions frozen in place are written into the store while processes that can write them still run: the copy may not be one instant");
        using (writer)
        {
            Errno result = orchestrator.Reserialize(new Image(writer, checkpoints, RebootMode.Durable, progress: null), out summary);
            writers?.ResumeAll("the daemon stops");
            WarnIfUnsynced(writer);
            return result;
        }
    }

    private List<SafeFd> OutgoingMemfds() => orchestrator.OutgoingFiles().OfType<HeldFile>().Select(f => f.Fd).ToList();

    private GenerationWriter? Begin()
    {
        try
        {
            return store.BeginGeneration();
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
        return null;
    }

    /// <summary>One reboot's records: the memfd handler's freeze takes the
    /// file position now; size and seals are those recorded at preserve.</summary>
    private sealed class Image(GenerationWriter writer, IStoreCheckpoints checkpoints, RebootMode mode, TextWriter? progress) : IHandoverImage
    {
        private const long ShowProgressFrom = 64L << 20;
        private string _session = "";

        public void AddSession(SessionName name)
        {
            _session = name.ToString();
            writer.AddSession(name.Bytes);
        }

        public Errno AddFile(PreservedFile file)
        {
            if (checkpoints.Reach(FaultSwitch.FreezeFile) is { IsError: true } fault)
                return fault;
            if (file.File is not HeldFile held)
                return Errno.EINVAL;
            var (error, position) = MemfdOps.Position(held.Fd);
            if (error.IsError)
                return error;
            var shape = new FileShape(held.Facts.Size, held.Facts.Seals);
            if (mode == RebootMode.InPlace)
                return writer.AddKeptFile(file.Token, file.Handler.Compatible, held.Fd, position, shape);
            Action<long>? report = progress is not null && shape.Size >= ShowProgressFrom
                ? copied => progress.Write($"\rfreezing token {file.Token} of session {_session}: {copied >> 20} MiB of data copied ({shape.Size >> 20} MiB file)")
                : null;
            error = writer.AddFile(file.Token, file.Handler.Compatible, held.Fd, position, shape, report);
            if (report is not null)
                progress!.WriteLine();
            return error;
        }

        public Errno Commit() => mode == RebootMode.InPlace ? writer.Prepare() : writer.Commit();

        public void Abort() => writer.Abort();
    }
}
