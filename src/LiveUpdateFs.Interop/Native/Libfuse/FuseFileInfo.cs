using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>struct fuse_file_info: flags, a word of bit fields, fh, lock owner.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFileInfo
{
    public const uint DirectIo = 1u << 1;
    public const uint NonSeekable = 1u << 4;
    public const uint NoFlush = 1u << 7;

    public int Flags;
    public uint Bits;
    public uint Padding2;
    public ulong Fh;
    public ulong LockOwner;
    public uint PollEvents;
}
