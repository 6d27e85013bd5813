using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse.Callers;

/// <summary>
/// The thread that made a request (<see cref="CallerThread"/>: its memory
/// and fds), and its files as LUO takes them: fget() with the kernel's
/// answers, as Core's <see cref="ICallerFiles"/>. One instance per request;
/// dispose it when the reply has been sent.
/// </summary>
/// <param name="mappings">Checks each range before it is touched, so that no
/// access waits on a FUSE server (docs/blocking.md); null: unchecked.</param>
/// <param name="closer">Closes the files taken from the caller (docs/blocking.md); null: all off the thread.</param>
public sealed class CallerProcess(int threadId, MappingGuard? mappings = null, TakenFiles? closer = null)
    : CallerThread(threadId, mappings), ICallerFiles
{
    /// <summary>fget(fd): EBADF for a closed or O_PATH fd; a file that /proc
    /// shows is no shmem file is described without being taken (docs/blocking.md).</summary>
    public Errno Take(int fd, out IHeldFile? file)
    {
        file = null;
        switch (ShmemCandidate.Of(ThreadId, fd))
        {
            case ShmemCandidate.Verdict.NotOpen:
                return Errno.EBADF;
            case ShmemCandidate.Verdict.NotShmem:
                file = new UntakenFile();
                return Errno.None;
        }
        Errno taken = TakeDescriptor(fd, out SafeFd? held);
        if (taken.IsError)
            return taken;
        Errno described = HeldFile.Describe(held!, out FileFacts facts);
        closer ??= new TakenFiles(null);
        if (described.IsError)
        {
            closer.Close(held!, shmem: false);
            return described;
        }
        file = new HeldFile(held!, facts, closer);
        return Errno.None;
    }
}
