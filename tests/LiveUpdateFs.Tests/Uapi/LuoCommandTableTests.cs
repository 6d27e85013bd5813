using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Uapi;

/// <summary>The ioctl tables of docs/behaviour.md §2.1, §2.2 and the sizes of §1.2.</summary>
public class LuoCommandTableTests
{
    private static readonly LuoCommandTable Reference = new(LuoBehaviour.Reference);

    [TestCase(0x00u, LuoRequest.CreateSession)]
    [TestCase(0x01u, LuoRequest.RetrieveSession)]
    [Description("docs/behaviour.md §2.1 step 1: the device table holds nr 0 and 1")]
    public void Device_table_finds_its_commands(uint nr, uint request) =>
        Assert.That(Reference.Find(LuoFileKind.Device, nr)?.Request, Is.EqualTo(request));

    [TestCase(0x02u)]
    [TestCase(0x40u)]
    [TestCase(0xFFu)]
    [Description("docs/behaviour.md §2.1 step 1: every nr >= 2 is outside the device table")]
    public void Device_table_has_nothing_else(uint nr) =>
        Assert.That(Reference.Find(LuoFileKind.Device, nr), Is.Null);

    [TestCase(LuoFileKind.OutgoingSession, 0x40u, LuoRequest.PreserveFd)]
    [TestCase(LuoFileKind.IncomingSession, 0x41u, LuoRequest.RetrieveFd)]
    [TestCase(LuoFileKind.IncomingSession, 0x42u, LuoRequest.Finish)]
    [TestCase(LuoFileKind.OutgoingSession, 0x43u, LuoRequest.GetName)]
    [Description("docs/behaviour.md §2.2 step 1: the session table holds nr 0x40..0x43 (N = 4 in v7.2)")]
    public void Session_table_finds_its_commands(LuoFileKind kind, uint nr, uint request) =>
        Assert.That(Reference.Find(kind, nr)?.Request, Is.EqualTo(request));

    [TestCase(LuoFileKind.OutgoingSession, 0x00u)]
    [TestCase(LuoFileKind.OutgoingSession, 0x3Fu)]
    [TestCase(LuoFileKind.IncomingSession, 0x44u)]
    [TestCase(LuoFileKind.IncomingSession, 0x01u)]
    [Description("docs/behaviour.md §2.2 step 1: nr < 0x40 or > 0x43 is outside the session table")]
    public void Session_table_has_nothing_else(LuoFileKind kind, uint nr) =>
        Assert.That(Reference.Find(kind, nr), Is.Null);

    [TestCase(LuoRequest.CreateSession, 72)]
    [TestCase(LuoRequest.RetrieveSession, 72)]
    [TestCase(LuoRequest.PreserveFd, 16)]
    [TestCase(LuoRequest.RetrieveFd, 16)]
    [TestCase(LuoRequest.Finish, 8)]
    [TestCase(LuoRequest.GetName, 72)]
    [Description("docs/behaviour.md §1.2: known size == minimum size == sizeof for every struct")]
    public void Sizes_are_the_struct_sizes(uint request, int size)
    {
        LuoCommand command = Find(Reference, request);

        Assert.That((command.KnownSize, command.MinSize, command.StructSize), Is.EqualTo((size, size, size)));
    }

    [Test]
    [Description("docs/behaviour.md §1.2, §4.6: before [GN-fix], GET_NAME's known and minimum size are 16; its own struct is still 72")]
    public void GET_NAME_without_GN_fix_has_a_16_byte_descriptor()
    {
        LuoCommand command = Find(new LuoCommandTable(new LuoBehaviour { GetNameFix = false }), LuoRequest.GetName);

        Assert.That((command.KnownSize, command.MinSize, command.StructSize), Is.EqualTo((16, 16, 72)));
    }

    [TestCase(LuoRequest.PreserveFd, true, false)]
    [TestCase(LuoRequest.RetrieveFd, false, true)]
    [TestCase(LuoRequest.Finish, false, true)]
    [TestCase(LuoRequest.GetName, true, true)]
    [Description("docs/behaviour.md §2.2 step 4: which session kind each command is allowed on")]
    public void Session_commands_are_typed_by_kind(uint request, bool onOutgoing, bool onIncoming)
    {
        LuoCommand command = Find(Reference, request);

        Assert.That(command.IsAllowedOn(LuoFileKind.OutgoingSession), Is.EqualTo(onOutgoing));
        Assert.That(command.IsAllowedOn(LuoFileKind.IncomingSession), Is.EqualTo(onIncoming));
    }

    [TestCase(LuoRequest.CreateSession, 0x00u)]
    [TestCase(LuoRequest.RetrieveSession, 0x01u)]
    [TestCase(LuoRequest.PreserveFd, 0x40u)]
    [TestCase(LuoRequest.RetrieveFd, 0x41u)]
    [TestCase(LuoRequest.Finish, 0x42u)]
    [TestCase(LuoRequest.GetName, 0x43u)]
    [Description("docs/behaviour.md §1.1: every request is _IO(0xBA, nr)")]
    public void Requests_are_IO_encodings(uint request, uint nr) =>
        Assert.That(request, Is.EqualTo((LuoRequest.IoctlType << 8) | nr));

    [Test]
    [Description("docs/behaviour.md §2.1 step 1: _IOC_NR looks at the low 8 bits only")]
    public void Nr_ignores_type_direction_and_size() =>
        Assert.That(LuoRequest.Nr(0xC048BB43), Is.EqualTo(0x43u));

    private static LuoCommand Find(LuoCommandTable table, uint request)
    {
        LuoFileKind kind = request >= 0xBA40 ? LuoFileKind.OutgoingSession : LuoFileKind.Device;
        return table.Find(kind, LuoRequest.Nr(request))!;
    }
}
