using System.Buffers.Binary;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Uapi;

/// <summary>The debug trace's rendering of decoded structs (docs/behaviour.md §1.2 layouts).</summary>
public class LuoStructsTests
{
    private static readonly LuoCommandTable Table = new(LuoBehaviour.Reference);

    private static DecodedRequest Decoded(LuoFileKind kind, uint request, byte[] bytes) =>
        new(Table.Find(kind, request & 0xff)!, 0x1000, (uint)bytes.Length, bytes);

    [Test]
    public void PRESERVE_FD_shows_fd_and_token()
    {
        byte[] s = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(s, 16);
        BinaryPrimitives.WriteInt32LittleEndian(s.AsSpan(4), 7);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(8), 0x1a);

        Assert.That(LuoStructs.Describe(Decoded(LuoFileKind.OutgoingSession, LuoRequest.PreserveFd, s)), Is.EqualTo("{size=16, fd=7, token=0x1a}"));
    }

    [Test]
    public void CREATE_SESSION_shows_the_name_escaped_and_a_missing_NUL()
    {
        byte[] s = new byte[72];
        s[8] = (byte)'a';
        s[9] = 0x01;
        s[10] = (byte)'\\';
        Assert.That(LuoStructs.Describe(Decoded(LuoFileKind.Device, LuoRequest.CreateSession, s)), Is.EqualTo(@"{size=72, fd=0, name=""a\x01\x5c""}"));

        s.AsSpan(8).Fill((byte)'x');
        Assert.That(LuoStructs.Describe(Decoded(LuoFileKind.Device, LuoRequest.CreateSession, s)), Does.EndWith("\" (no NUL)}"));
    }

    [Test]
    public void FINISH_shows_its_reserved_field()
    {
        byte[] s = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), 5);

        Assert.That(LuoStructs.Describe(Decoded(LuoFileKind.IncomingSession, LuoRequest.Finish, s)), Is.EqualTo("{size=8, reserved=5}"));
    }
}
