using System.Diagnostics;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Store.Handover;

/// <summary>
/// One reboot's image: a store generation. Durable: each memfd's data is
/// copied in as it is added. In place: only the records; the memfds stay
/// open (<see cref="Writer"/>'s kept files) across the daemon's exec into
/// the next boot. The memfd handler's freeze takes the file position now;
/// size and seals are those recorded at preserve. A durable image holds the
/// memfds' writers still from <see cref="Begin"/> to the end of the copy
/// (<paramref name="writers"/>; null: nobody is stopped).
/// </summary>
/// <param name="files">The fds behind the preserved files.</param>
public sealed class StoreImage(GenerationWriter writer, IStoreCheckpoints checkpoints, IHeldFiles files, RebootMode mode, TextWriter? progress, string store,
    ILogger log, ISnapshotWriters? writers = null, int? requester = null)
    : IHandoverImage
{
    private const long ShowProgressFrom = 64L << 20;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string _session = "";

    /// <summary>The generation: its kept fds and key travel with the exec.</summary>
    public GenerationWriter Writer => writer;

    public Errno Begin(IReadOnlyList<PreservedFile> preserved) =>
        writers?.Stop(preserved.Select(f => files.DescriptorOf(f.File)).OfType<SafeFd>().ToList(), requester) ?? Errno.None;

    public void AddSession(SessionName name)
    {
        _session = name.ToString();
        writer.AddSession(name.Bytes);
    }

    public Errno AddFile(PreservedFile file)
    {
        if (checkpoints.Reach(FaultSwitch.FreezeFile) is { IsError: true } fault)
            return fault;
        if (files.DescriptorOf(file.File) is not { } fd)
            return Errno.EINVAL;
        var (error, position) = MemfdOps.Position(fd);
        if (error.IsError)
            return error;
        var shape = new FileShape(file.File.Facts.Size, file.File.Facts.Seals);
        if (mode == RebootMode.InPlace)
            return writer.AddKeptFile(file.Token, file.Handler.Compatible, fd, position, shape);
        Action<long>? report = progress is not null && shape.Size >= ShowProgressFrom
            ? copied => progress.Write($"\rfreezing token {file.Token} of session {_session}: {copied >> 20} MiB of data copied ({shape.Size >> 20} MiB file)")
            : null;
        error = writer.AddFile(file.Token, file.Handler.Compatible, fd, position, shape, report);
        if (report is not null)
            progress!.WriteLine();
        return error;
    }

    public Errno Prepare()
    {
        Errno prepared = writer.Prepare();
        if (prepared.IsError)
            return prepared;
        // The copy is complete and durable: the instant is taken. A reboot's
        // command ends the holders next, as a kexec ends every process, so
        // they stay stopped; the others run on. A stop of the daemon ends nobody.
        if (requester is null)
            writers?.ResumeAll("the copy for the daemon's stop is complete");
        else
            writers?.ResumeAllButHolders();
        log.Information("Generation {Generation} prepared ({Mode}) in {Milliseconds} ms; it becomes the committed one at the restart",
            writer.Generation, mode, _clock.ElapsedMilliseconds);
        return prepared;
    }

    public Errno Publish()
    {
        if (checkpoints.Reach(FaultSwitch.Restart) is { IsError: true } fault)
            return fault;
        Errno published = writer.Publish();
        if (published.IsError)
            return published;
        log.Information("Generation {Generation} committed in {Store}", writer.Generation, store);
        // A commit whose pointer switch could not be fsynced stands, but a
        // power loss may undo it: worth a warning, not a failed reboot.
        if (writer.UnsyncedPointer.IsError)
            log.Warning("Generation {Generation} is committed, but fsync of the store {Store} failed with {Errno}: after a power loss the store may come back with the previous generation. Check the disk",
                writer.Generation, store, writer.UnsyncedPointer.Name);
        return Errno.None;
    }

    public void Abort()
    {
        writers?.ResumeAll("the freeze was called off");
        writer.Abort();
    }
}
