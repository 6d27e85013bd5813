using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>Memory: memfds and their seals, another process's memory (process_vm_readv/writev).</summary>
internal static unsafe partial class Libc
{
    public const uint MFD_CLOEXEC = 0x1;
    public const uint MFD_ALLOW_SEALING = 0x2;
    public const int F_ADD_SEALS = 1033;
    public const int F_GET_SEALS = 1034;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [LibraryImport(Lib, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport(Lib, EntryPoint = "process_vm_readv", SetLastError = true)]
    public static partial nint ProcessVmReadv(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);

    /// <summary>process_vm_readv/writev for the per-request copies of
    /// <see cref="CallerProcess"/>, which need only the byte count: without
    /// SetLastError the stub neither clears errno before the call nor saves
    /// it after (two calls into the runtime per copy).</summary>
    [LibraryImport(Lib, EntryPoint = "process_vm_readv")]
    public static partial nint ProcessVmReadvNoErrno(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);

    /// <inheritdoc cref="ProcessVmReadvNoErrno"/>
    [LibraryImport(Lib, EntryPoint = "process_vm_writev")]
    public static partial nint ProcessVmWritevNoErrno(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);
}
