namespace LiveUpdateFs.Core.Files;

/// <summary>The files of the process that made a request.</summary>
public interface ICallerFiles
{
    /// <summary>fget(fd) in the caller: EBADF for a closed, invalid or O_PATH fd.</summary>
    Uapi.Errno Take(int fd, out IHeldFile? file);
}
