using System.Text;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;

namespace LiveUpdateFs.Tests.Core;

/// <summary>Session names as the kernel reads them: strnlen over 64 bytes,
/// strncmp for comparison (docs/behaviour.md §1.1, §4.1 step 2, §4.2 step 3).</summary>
public class SessionNameTests
{
    private static byte[] Field(string text) => Structs.NameField(text);

    private static byte[] Unterminated() => Enumerable.Repeat((byte)'a', 64).ToArray();

    [TestCase("", 0)]
    [TestCase("abc", 3)]
    [TestCase("abc\0def", 3)]
    [Description("docs/behaviour.md §4.1 step 2: the length is strnlen(name, 64)")]
    public void TerminatedLength_is_the_length_before_the_first_NUL(string text, int length) =>
        Assert.That(SessionName.TerminatedLength(Field(text)), Is.EqualTo(length));

    [Test]
    [Description("docs/behaviour.md §4.1 step 2: 64 bytes without NUL have length 64")]
    public void TerminatedLength_without_NUL_is_64() =>
        Assert.That(SessionName.TerminatedLength(Unterminated()), Is.EqualTo(64));

    [Test]
    [Description("docs/behaviour.md §4.1 step 2: the bytes after the first NUL are ignored")]
    public void FromField_ignores_bytes_after_the_NUL() =>
        Assert.That(SessionName.FromField(Field("abc\0junk")), Is.EqualTo(SessionName.FromString("abc")));

    [Test]
    [Description("docs/behaviour.md §4.1 step 2: a field without NUL holds no name")]
    public void FromField_of_an_unterminated_field_is_null() =>
        Assert.That(SessionName.FromField(Unterminated()), Is.Null);

    [Test]
    [Description("docs/behaviour.md §1.1: a name has at most 63 bytes, all kept")]
    public void FromField_keeps_a_63_byte_name()
    {
        string text = new('n', 63);

        Assert.That(SessionName.FromField(Field(text))!.Bytes.ToArray(), Is.EqualTo(Encoding.ASCII.GetBytes(text)));
    }

    [TestCase("abc", "abd")]
    [TestCase("abc", "ABC")]
    [TestCase("abc", "abc ")]
    [Description("docs/behaviour.md §4.1 step 5: names compare byte for byte (strncmp), no folding")]
    public void Different_bytes_are_different_names(string a, string b) =>
        Assert.That(SessionName.FromString(a), Is.Not.EqualTo(SessionName.FromString(b)));

    [Test]
    [Description("docs/behaviour.md §4.1 step 5: names with the same bytes are equal and hash alike, whatever the bytes")]
    public void Same_bytes_are_equal_names()
    {
        byte[] field = Field("");
        field[0] = 0xFF;
        field[1] = 0x01;
        SessionName a = SessionName.FromField(field)!;
        SessionName b = SessionName.FromField((byte[])field.Clone())!;

        Assert.That(a, Is.EqualTo(b));
        Assert.That(a.GetHashCode(), Is.EqualTo(b.GetHashCode()));
        Assert.That(a.Equals(null), Is.False);
    }

    [Test]
    [Description("docs/behaviour.md §5.1: names are shown escaped: printable ASCII as is, other bytes and backslash as \\xNN")]
    public void ToString_escapes_non_printables_and_backslash()
    {
        byte[] field = Field("a\\b\n c~");
        field[7] = 0x7F;
        field[8] = 0xC3;

        Assert.That(SessionName.FromField(field)!.ToString(), Is.EqualTo(@"a\x5cb\x0a c~\x7f\xc3"));
    }

    [Test]
    [Description("docs/behaviour.md §4.6 step 3: strscpy writes the name and one NUL, nothing after it")]
    public void CopyTo_writes_the_name_and_NUL_only()
    {
        byte[] field = Enumerable.Repeat((byte)0xAA, 64).ToArray();

        SessionName.FromString("abc").CopyTo(field);

        Assert.That(field[..4], Is.EqualTo("abc\0"u8.ToArray()));
        Assert.That(field[4..], Is.All.EqualTo((byte)0xAA));
    }

    [Test]
    [Description("docs/behaviour.md §1.1: a name built from text cannot hold a NUL")]
    public void FromString_rejects_NUL() =>
        Assert.That(() => SessionName.FromString("a\0b"), Throws.ArgumentException);

    [Test]
    [Description("docs/behaviour.md §1.1: a name built from text has at most 63 bytes")]
    public void FromString_rejects_64_bytes() =>
        Assert.That(() => SessionName.FromString(new string('x', 64)), Throws.ArgumentException);
}
