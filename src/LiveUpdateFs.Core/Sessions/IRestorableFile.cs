using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Core.Sessions;

/// <summary>Preserved contents waiting in the store for the new boot.</summary>
public interface IRestorableFile
{
    /// <summary>The size recorded at preserve.</summary>
    long Size { get; }

    /// <summary>The handler's retrieve: builds the file anew.</summary>
    Uapi.Errno Restore(out IHeldFile? file);

    /// <summary>Restore would take long (a copy out of the store): the
    /// request thread runs <see cref="PrepareRestore"/> elsewhere first.</summary>
    bool RestoreIsSlow => false;

    /// <summary>Does the slow part of <see cref="Restore"/> now, on any
    /// thread; Restore then uses its result. Safe against <see cref="Discard"/>.</summary>
    void PrepareRestore()
    {
    }

    /// <summary>FINISH without retrieve: the preserved data is released.</summary>
    void Discard();
}
