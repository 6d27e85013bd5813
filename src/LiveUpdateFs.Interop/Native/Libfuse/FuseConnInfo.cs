using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>The head of struct fuse_conn_info (the fields the daemon sets).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseConnInfo
{
    public uint ProtoMajor;
    public uint ProtoMinor;
    public uint MaxWrite;
    public uint MaxRead;
    public uint MaxReadahead;
    public uint Capable;
    public uint Want;
    public uint MaxBackground;
    public uint CongestionThreshold;
}
