namespace LiveUpdateFs.Tests.Integration;

/// <summary>How a client program is started against a mount: what serves its
/// fd-returning requests (CREATE_SESSION, RETRIEVE_SESSION, RETRIEVE_FD).</summary>
public enum ClientMode
{
    /// <summary>The dynamic build with neither the library nor `run`: fd-returning requests fail (EOPNOTSUPP).</summary>
    NoLibrary,

    /// <summary>The dynamic build with LD_PRELOAD of the preload library (the mechanism before `liveupdatefs run` used seccomp).</summary>
    Preload,

    /// <summary>The dynamic build under `liveupdatefs run --mountpoint M -- PROGRAM` (the seccomp filter), no LD_PRELOAD.</summary>
    Seccomp,

    /// <summary>The -static build (artifacts/tests/c/static) under `liveupdatefs run`: no library can ever load into it.</summary>
    SeccompStatic,
}
