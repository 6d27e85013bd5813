using LiveUpdateFs.Fuse;

namespace LiveUpdateFs.Tests.Fuse;

/// <summary>The numbers of the per-session nodes (docs/design.md §4): few
/// names, each the session's from PREPARE until its file is released.</summary>
public sealed class SessionNodeNumbersTests
{
    [Test]
    [Description("A freed number is taken again before a new one, so a loop of create and close uses one node, whose entry the kernel keeps")]
    public void Freed_numbers_are_taken_again_before_new_ones()
    {
        var numbers = new SessionNodeNumbers();
        Assert.That(new[] { numbers.Take(), numbers.Take(), numbers.Take() }, Is.EqualTo(new uint[] { 0, 1, 2 }));
        numbers.Free(1);
        Assert.That(numbers.Take(), Is.EqualTo(1u), "the freed number first");
        Assert.That(numbers.Take(), Is.EqualTo(3u), "then a new one");
        numbers.Free(3);
        numbers.Free(3);
        Assert.That(numbers.Take(), Is.EqualTo(3u));
        Assert.That(numbers.Take(), Is.EqualTo(4u), "a number freed twice is handed out once");
    }

    [Test]
    [Description("A number is in use from its Take until its Free: only then does the node exist for a LOOKUP")]
    public void A_number_is_in_use_between_take_and_free_only()
    {
        var numbers = new SessionNodeNumbers();
        Assert.That(numbers.InUse(0), Is.False, "nothing taken yet");
        uint taken = numbers.Take();
        Assert.That(numbers.InUse(taken), Is.True);
        Assert.That(numbers.InUse(taken + 1), Is.False, "a number never handed out");
        Assert.That(numbers.InUse(ulong.MaxValue), Is.False);
        numbers.Free(taken);
        Assert.That(numbers.InUse(taken), Is.False);
    }
}
