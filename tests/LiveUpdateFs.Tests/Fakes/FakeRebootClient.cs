using LiveUpdateFs.Core.Reboot;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>A reboot command that can be made to end.</summary>
public sealed class FakeRebootClient(int pid) : IRebootClient
{
    public int Pid { get; } = pid;
    public bool HasExited { get; set; }
    public bool Disposed { get; private set; }

    public void Dispose() => Disposed = true;
}
