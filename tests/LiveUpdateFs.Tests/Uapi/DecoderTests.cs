using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Uapi;

/// <summary>The generic decoding of docs/behaviour.md §2.1 (device) and §2.2 (session fds),
/// whose order decides which errno wins.</summary>
public class DecoderTests
{
    private const ulong Arg = 0x10_0000;
    private const uint Huge = 0xFFFF_FFFF;

    private FakeCallerMemory _memory = null!;

    [SetUp]
    public void SetUp() => _memory = new FakeCallerMemory();

    /// <summary>Every command on a file kind it is allowed on, with its struct size (docs/behaviour.md §1.2).</summary>
    private static readonly object[] Commands =
    [
        new object[] { LuoFileKind.Device, LuoRequest.CreateSession, 72 },
        new object[] { LuoFileKind.Device, LuoRequest.RetrieveSession, 72 },
        new object[] { LuoFileKind.OutgoingSession, LuoRequest.PreserveFd, 16 },
        new object[] { LuoFileKind.IncomingSession, LuoRequest.RetrieveFd, 16 },
        new object[] { LuoFileKind.IncomingSession, LuoRequest.Finish, 8 },
        new object[] { LuoFileKind.OutgoingSession, LuoRequest.GetName, 72 },
        new object[] { LuoFileKind.IncomingSession, LuoRequest.GetName, 72 },
    ];

    private Errno Decode(LuoFileKind kind, uint request, out DecodedRequest? decoded, LuoBehaviour? behaviour = null, ulong argument = Arg) =>
        IoctlDecoder.Decode(new LuoCommandTable(behaviour ?? LuoBehaviour.Reference), kind, request, argument, _memory, out decoded);

    private Errno Decode(LuoFileKind kind, uint request, LuoBehaviour? behaviour = null, ulong argument = Arg) =>
        Decode(kind, request, out _, behaviour, argument);

    // ---- step 1: nr range ----

    [TestCase(LuoFileKind.Device, 0xBA02u)]
    [TestCase(LuoFileKind.Device, 0x541Bu)] // FIONREAD
    [TestCase(LuoFileKind.Device, LuoRequest.PreserveFd)]
    [TestCase(LuoFileKind.OutgoingSession, 0xBA3Fu)]
    [TestCase(LuoFileKind.OutgoingSession, 0xBA44u)]
    [TestCase(LuoFileKind.IncomingSession, LuoRequest.CreateSession)]
    [Description("docs/behaviour.md §2.1 step 1, §2.2 step 1: an nr outside the file's table is EINVAL before any user memory is touched")]
    public void Unknown_nr_is_EINVAL_without_reading_memory(LuoFileKind kind, uint request)
    {
        _memory.Map(Arg, Structs.Sized(72, 4096));

        Assert.That(Decode(kind, request), Is.EqualTo(Errno.EINVAL));
        Assert.That(_memory.Reads, Is.Empty);
    }

    // ---- step 2: get_user(size) ----

    [TestCase(LuoFileKind.Device, LuoRequest.CreateSession)]
    [TestCase(LuoFileKind.OutgoingSession, LuoRequest.PreserveFd)]
    [Description("docs/behaviour.md §2.1 step 2, §2.2 step 2: an unmapped argument faults on the size word")]
    public void Unmapped_argument_is_EFAULT(LuoFileKind kind, uint request) =>
        Assert.That(Decode(kind, request), Is.EqualTo(Errno.EFAULT));

    [Test]
    [Description("docs/behaviour.md §2.1 step 2: a size word that is only partly mapped faults")]
    public void Partly_mapped_size_word_is_EFAULT()
    {
        _memory.Map(Arg, new byte[2]);

        Assert.That(Decode(LuoFileKind.Device, LuoRequest.CreateSession), Is.EqualTo(Errno.EFAULT));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 consequences: a foreign request with nr 0 (TCGETS) reads the size word first, so a bad pointer is EFAULT")]
    public void Foreign_request_with_a_valid_nr_on_a_bad_pointer_is_EFAULT() =>
        Assert.That(Decode(LuoFileKind.Device, 0x5401), Is.EqualTo(Errno.EFAULT));

    // ---- step 3: the full request value ----

    [TestCase(LuoFileKind.Device, 0xC048BA00u)] // _IOWR(0xBA, 0, 72 bytes)
    [TestCase(LuoFileKind.Device, 0xBB00u)] // other type byte
    [TestCase(LuoFileKind.Device, 0x5401u)] // TCGETS
    [TestCase(LuoFileKind.OutgoingSession, 0xC010BA40u)]
    [TestCase(LuoFileKind.IncomingSession, 0xBB42u)]
    [Description("docs/behaviour.md §2.1 step 3, §2.2 step 3: the right nr with a different full request value is ENOTTY")]
    public void Full_request_mismatch_is_ENOTTY(LuoFileKind kind, uint request)
    {
        _memory.Map(Arg, Structs.Sized(72));

        Assert.That(Decode(kind, request), Is.EqualTo(Errno.ENOTTY));
    }

    [Test]
    [Description("docs/behaviour.md §2.2 steps 3-4: the request check comes before the session-kind check")]
    public void Full_request_mismatch_on_the_wrong_kind_is_ENOTTY()
    {
        _memory.Map(Arg, Structs.Sized(16));

        Assert.That(Decode(LuoFileKind.OutgoingSession, 0xBB41), Is.EqualTo(Errno.ENOTTY));
    }

    // ---- step 4 (sessions): kind check ----

    [TestCase(LuoFileKind.OutgoingSession, LuoRequest.RetrieveFd)]
    [TestCase(LuoFileKind.OutgoingSession, LuoRequest.Finish)]
    [TestCase(LuoFileKind.IncomingSession, LuoRequest.PreserveFd)]
    [Description("docs/behaviour.md §2.2 step 4: a command on the wrong kind of session is EINVAL, checked before the size")]
    public void Wrong_kind_with_size_zero_is_EINVAL(LuoFileKind kind, uint request)
    {
        _memory.Map(Arg, Structs.Sized(0, 16));

        Assert.That(Decode(kind, request), Is.EqualTo(Errno.EINVAL));
    }

    [TestCase(LuoFileKind.OutgoingSession, LuoRequest.RetrieveFd)]
    [TestCase(LuoFileKind.OutgoingSession, LuoRequest.Finish)]
    [TestCase(LuoFileKind.IncomingSession, LuoRequest.PreserveFd)]
    [Description("docs/behaviour.md §2.2 step 4: the kind check wins over the tail check (EINVAL, not E2BIG)")]
    public void Wrong_kind_with_a_non_zero_tail_is_EINVAL(LuoFileKind kind, uint request)
    {
        byte[] s = _memory.Map(Arg, Structs.Sized(64));
        s[63] = 1;

        Assert.That(Decode(kind, request), Is.EqualTo(Errno.EINVAL));
    }

    [TestCase(LuoFileKind.OutgoingSession)]
    [TestCase(LuoFileKind.IncomingSession)]
    [Description("docs/behaviour.md §2.2 step 4: GET_NAME works on both kinds of session")]
    public void GET_NAME_is_allowed_on_both_kinds(LuoFileKind kind)
    {
        _memory.Map(Arg, Structs.GetName());

        Assert.That(Decode(kind, LuoRequest.GetName), Is.EqualTo(Errno.None));
    }

    // ---- step 4/5: minimum size ----

    [TestCaseSource(nameof(Commands))]
    [Description("docs/behaviour.md §2.1 step 4, §2.2 step 5, §1.2: a size below the command's minimum is EINVAL")]
    public void Size_below_the_minimum_is_EINVAL(LuoFileKind kind, uint request, int structSize)
    {
        foreach (uint size in new[] { 0u, 4u, (uint)structSize - 1 })
        {
            _memory = new FakeCallerMemory();
            _memory.Map(Arg, Structs.Sized(size, structSize));

            Assert.That(Decode(kind, request), Is.EqualTo(Errno.EINVAL), $"size {size}");
        }
    }

    [TestCaseSource(nameof(Commands))]
    [Description("docs/behaviour.md §2.1 step 5: size == sizeof copies the caller's struct as is")]
    public void Exact_size_copies_the_struct(LuoFileKind kind, uint request, int structSize)
    {
        byte[] s = _memory.Map(Arg, Structs.Sized((uint)structSize));
        s[^1] = 0x5A;

        Assert.That(Decode(kind, request, out DecodedRequest? decoded), Is.EqualTo(Errno.None));
        Assert.That(decoded!.Command.Request, Is.EqualTo(request));
        Assert.That(decoded.UserSize, Is.EqualTo((uint)structSize));
        Assert.That(decoded.Struct, Is.EqualTo(s));
    }

    // ---- step 5/6: copy_struct_from_user ----

    [TestCaseSource(nameof(Commands))]
    [Description("docs/behaviour.md §2.1 step 5: a larger struct with an all-zero tail is accepted; only the known part is copied")]
    public void Larger_size_with_a_zero_tail_is_accepted(LuoFileKind kind, uint request, int structSize)
    {
        _memory.Map(Arg, Structs.Sized(4096));

        Assert.That(Decode(kind, request, out DecodedRequest? decoded), Is.EqualTo(Errno.None));
        Assert.That(decoded!.UserSize, Is.EqualTo(4096u));
        Assert.That(decoded.Struct, Has.Length.EqualTo(structSize));
    }

    [TestCaseSource(nameof(Commands))]
    [Description("docs/behaviour.md §2.1 step 5: a non-zero byte in the tail is E2BIG")]
    public void Larger_size_with_a_non_zero_tail_is_E2BIG(LuoFileKind kind, uint request, int structSize)
    {
        byte[] s = _memory.Map(Arg, Structs.Sized((uint)structSize + 8));
        s[^1] = 1;

        Assert.That(Decode(kind, request), Is.EqualTo(Errno.E2BIG));
    }

    [TestCaseSource(nameof(Commands))]
    [Description("docs/behaviour.md §2.1 step 5: a tail that runs into unmapped memory is EFAULT")]
    public void Tail_into_unmapped_memory_is_EFAULT(LuoFileKind kind, uint request, int structSize)
    {
        _memory.Map(Arg, Structs.Sized((uint)structSize + 16)[..(structSize + 8)]);

        Assert.That(Decode(kind, request), Is.EqualTo(Errno.EFAULT));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: with size 0xffffffff, a non-zero byte before the first unmapped byte is E2BIG")]
    public void Huge_size_with_a_non_zero_byte_before_unmapped_memory_is_E2BIG()
    {
        byte[] s = _memory.Map(Arg, Structs.Sized(Huge, 4096));
        s[4000] = 1;

        Assert.That(Decode(LuoFileKind.Device, LuoRequest.CreateSession), Is.EqualTo(Errno.E2BIG));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: with size 0xffffffff and zeros up to the first unmapped byte, EFAULT")]
    public void Huge_size_with_zeros_up_to_unmapped_memory_is_EFAULT()
    {
        _memory.Map(Arg, Structs.Sized(Huge, 4096));

        Assert.That(Decode(LuoFileKind.Device, LuoRequest.CreateSession), Is.EqualTo(Errno.EFAULT));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: a tail range past the user address limit is EFAULT without scanning, even with a non-zero byte")]
    public void Tail_past_the_user_address_limit_is_EFAULT_without_scanning()
    {
        const ulong nearLimit = IoctlDecoder.UserAddressLimit - 0x1000;
        byte[] s = _memory.Map(nearLimit, Structs.Sized(Huge, 0x1000));
        s[72] = 1;

        Assert.That(Decode(LuoFileKind.Device, LuoRequest.CreateSession, argument: nearLimit), Is.EqualTo(Errno.EFAULT));
        Assert.That(_memory.Reads, Has.Count.EqualTo(1), "one read (the size word with the known part), no scan");
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: the tail is scanned before the known part is copied (E2BIG wins over a fault in the struct)")]
    public void Tail_is_scanned_before_the_known_part()
    {
        _memory.Map(Arg, Structs.Sized(80)[..4]);
        _memory.Map(Arg + 72, new byte[] { 0, 0, 0, 1, 0, 0, 0, 0 });
        // Bytes 4..71 are unmapped.

        Assert.That(Decode(LuoFileKind.Device, LuoRequest.CreateSession), Is.EqualTo(Errno.E2BIG));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: a struct that is unreadable after its size word is EFAULT")]
    public void Unreadable_known_part_is_EFAULT()
    {
        _memory.Map(Arg, Structs.Sized(72)[..8]);

        Assert.That(Decode(LuoFileKind.Device, LuoRequest.CreateSession), Is.EqualTo(Errno.EFAULT));
    }

    [TestCaseSource(nameof(Commands))]
    [Description("Cost, not semantics: a readable struct of the exact size is copied in one read of the caller's memory (one process_vm_readv per request)")]
    public void Readable_struct_is_copied_in_one_read(LuoFileKind kind, uint request, int structSize)
    {
        byte[] s = _memory.Map(Arg, Structs.Sized((uint)structSize, 4096));
        s[4] = 0x5A;

        Assert.That(Decode(kind, request, out DecodedRequest? decoded), Is.EqualTo(Errno.None));
        Assert.That(_memory.Reads, Is.EqualTo(new[] { new FakeCallerMemory.Access(Arg, structSize) }));
        Assert.That(decoded!.Struct[4], Is.EqualTo(0x5A));
    }

    // ---- write-back (docs/behaviour.md §2.1 step 6, §2.2 step 8) ----

    [TestCase(LuoRequest.CreateSession, 72u, 72)]
    [TestCase(LuoRequest.CreateSession, 4096u, 72)]
    [TestCase(LuoRequest.RetrieveSession, 100u, 72)]
    [Description("docs/behaviour.md §2.1 step 6: the write-back is min(user size, sizeof) bytes at the argument")]
    public void Write_back_writes_min_of_user_size_and_struct_size(uint request, uint size, int expected)
    {
        _memory.Map(Arg, Structs.Sized(size, 72));
        Decode(LuoFileKind.Device, request, out DecodedRequest? decoded);

        Assert.That(decoded!.WriteBack(_memory), Is.True);
        Assert.That(_memory.Writes.Single().Address, Is.EqualTo(Arg));
        Assert.That(_memory.Writes.Single().Data, Has.Length.EqualTo(expected));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 6: a write-back into read-only memory fails")]
    public void Write_back_into_read_only_memory_fails()
    {
        _memory.Map(Arg, Structs.Sized(16), readOnly: true);
        Decode(LuoFileKind.OutgoingSession, LuoRequest.PreserveFd, out DecodedRequest? decoded);

        Assert.That(decoded!.WriteBack(_memory), Is.False);
    }

    // ---- GET_NAME before [GN-fix] (docs/behaviour.md §4.6) ----

    private static readonly LuoBehaviour WithoutGetNameFix = new() { GetNameFix = false };

    [TestCase(16u)]
    [TestCase(17u)]
    [TestCase(40u)]
    [TestCase(71u)]
    [TestCase(72u)]
    [Description("docs/behaviour.md §4.6: before [GN-fix], GET_NAME accepts any size from 16")]
    public void GET_NAME_without_GN_fix_accepts_sizes_from_16(uint size)
    {
        _memory.Map(Arg, Structs.GetName(size: size));

        Assert.That(Decode(LuoFileKind.OutgoingSession, LuoRequest.GetName, WithoutGetNameFix), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §4.6: before [GN-fix], GET_NAME below 16 bytes is EINVAL")]
    public void GET_NAME_without_GN_fix_of_size_15_is_EINVAL()
    {
        _memory.Map(Arg, Structs.GetName(size: 15));

        Assert.That(Decode(LuoFileKind.OutgoingSession, LuoRequest.GetName, WithoutGetNameFix), Is.EqualTo(Errno.EINVAL));
    }

    [TestCase(17u, 16)]
    [TestCase(72u, 16)]
    [TestCase(72u, 71)]
    [Description("docs/behaviour.md §4.6: before [GN-fix], bytes from 16 on (name[8..]) are a tail that must be zero")]
    public void GET_NAME_without_GN_fix_with_a_non_zero_name_tail_is_E2BIG(uint size, int nonZeroAt)
    {
        byte[] s = _memory.Map(Arg, Structs.GetName(size: size));
        s[nonZeroAt] = (byte)'x';

        Assert.That(Decode(LuoFileKind.OutgoingSession, LuoRequest.GetName, WithoutGetNameFix), Is.EqualTo(Errno.E2BIG));
    }

    [Test]
    [Description("docs/behaviour.md §4.6: before [GN-fix], only 16 bytes are copied in; the rest of the 72-byte kernel struct is zero")]
    public void GET_NAME_without_GN_fix_copies_only_16_bytes()
    {
        byte[] s = _memory.Map(Arg, Structs.GetName(size: 16)[..16]);
        _memory.Map(Arg + 16, Enumerable.Repeat((byte)0xEE, 56).ToArray());
        s[12] = (byte)'n';

        Assert.That(Decode(LuoFileKind.OutgoingSession, LuoRequest.GetName, out DecodedRequest? decoded, WithoutGetNameFix), Is.EqualTo(Errno.None));
        Assert.That(decoded!.Struct, Has.Length.EqualTo(72));
        Assert.That(decoded.Struct[12], Is.EqualTo((byte)'n'));
        Assert.That(decoded.Struct.AsSpan(16).ContainsAnyExcept((byte)0), Is.False);
    }

    [TestCase(16u, 16)]
    [TestCase(40u, 40)]
    [TestCase(100u, 72)]
    [Description("docs/behaviour.md §4.6: before [GN-fix], GET_NAME still writes back min(size, 72) bytes")]
    public void GET_NAME_without_GN_fix_writes_back_min_of_size_and_72(uint size, int expected)
    {
        _memory.Map(Arg, Structs.GetName(size: size));
        Decode(LuoFileKind.OutgoingSession, LuoRequest.GetName, out DecodedRequest? decoded, WithoutGetNameFix);

        decoded!.WriteBack(_memory);

        Assert.That(_memory.Writes.Single().Data, Has.Length.EqualTo(expected));
    }

    [TestCase(16u)]
    [TestCase(71u)]
    [Description("docs/behaviour.md §4.6 with [GN-fix] (the reference): GET_NAME below 72 bytes is EINVAL")]
    public void GET_NAME_with_GN_fix_below_size_72_is_EINVAL(uint size)
    {
        _memory.Map(Arg, Structs.GetName(size: size));

        Assert.That(Decode(LuoFileKind.OutgoingSession, LuoRequest.GetName), Is.EqualTo(Errno.EINVAL));
    }

    // ---- check_zeroed_user bounds ----

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: a tail that ends exactly at the user address limit is scanned")]
    public void Zeroed_tail_ending_at_the_limit_is_scanned()
    {
        _memory.Map(IoctlDecoder.UserAddressLimit - 8, new byte[8]);

        Assert.That(IoctlDecoder.CheckZeroedTail(_memory, IoctlDecoder.UserAddressLimit - 8, 8), Is.EqualTo(Errno.None));
        Assert.That(IoctlDecoder.CheckZeroedTail(_memory, IoctlDecoder.UserAddressLimit - 8, 9), Is.EqualTo(Errno.EFAULT));
    }

    [Test]
    [Description("docs/behaviour.md §2.1 step 5: a range that wraps around the address space is EFAULT")]
    public void Zeroed_tail_of_a_wrapping_range_is_EFAULT() =>
        Assert.That(IoctlDecoder.CheckZeroedTail(_memory, ulong.MaxValue - 4, 8), Is.EqualTo(Errno.EFAULT));
}
