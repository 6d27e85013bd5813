namespace LiveUpdateFs.Core.Files;

/// <summary>The daemon's own reference to an open file description (LUO's
/// reference in the kernel). Disposing it drops the reference.</summary>
public interface IHeldFile : IDisposable
{
    FileFacts Facts { get; }
}
