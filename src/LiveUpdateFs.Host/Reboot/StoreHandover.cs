using System.Diagnostics;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host.Reboot;

/// <summary>The reboot serialization into the persistence store: one new
/// generation per reboot, committed only when every file was frozen.</summary>
public sealed class StoreHandover(Orchestrator orchestrator, StoreDirectory store, IStoreCheckpoints checkpoints, ILogger log)
    : IRebootFreezer
{
    private readonly ILogger _log = log.ForContext<StoreHandover>();

    public Errno FreezeForReboot(TextWriter? progress, out HandoverSummary summary)
    {
        summary = default;
        var clock = Stopwatch.StartNew();
        GenerationWriter writer;
        try
        {
            writer = store.BeginGeneration();
        }
        catch (StoreCorruptException ex)
        {
            _log.Error("Reboot refused: {Problem}. Move the store {Store} aside (its committed state is unreadable anyway) and reboot again",
                ex.Message, store.Path);
            return Errno.EIO;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Error("Reboot refused: cannot start a new generation in {Store}: {Problem}. Check its space and permissions", store.Path, ex.Message);
            return Errno.EIO;
        }
        using (writer)
        {
            Errno result = orchestrator.Freeze(new Image(writer, checkpoints, progress), out summary);
            if (!result.IsError)
                _log.Information("Generation {Generation} committed in {Store} in {Milliseconds} ms", writer.Generation, store.Path, clock.ElapsedMilliseconds);
            return result;
        }
    }

    /// <summary>One reboot's records: the memfd handler's freeze takes the
    /// file position now; size and seals are those recorded at preserve.</summary>
    private sealed class Image(GenerationWriter writer, IStoreCheckpoints checkpoints, TextWriter? progress) : IHandoverImage
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
            long size = held.Facts.Size;
            Action<long>? report = progress is not null && size >= ShowProgressFrom
                ? copied => progress.Write($"\rfreezing token {file.Token} of session {_session}: {copied >> 20} MiB of data copied ({size >> 20} MiB file)")
                : null;
            error = writer.AddFile(file.Token, file.Handler.Compatible, held.Fd, position, new FileShape(size, held.Facts.Seals), report);
            if (report is not null)
                progress!.WriteLine();
            return error;
        }

        public Errno Commit() => writer.Commit();

        public void Abort() => writer.Abort();
    }
}
