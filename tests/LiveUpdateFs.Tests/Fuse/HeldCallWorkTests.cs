using LiveUpdateFs.Fuse.Trapped;

namespace LiveUpdateFs.Tests.Fuse;

/// <summary>The slow work of held trapped calls (docs/seccomp.md): a restore
/// that finished just after a retry's dispatch looked is no error.</summary>
public sealed class HeldCallWorkTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>Asks as the listener thread's retries do, until the answer
    /// is not Held or <paramref name="until"/> holds.</summary>
    private static HeldCallWork.RestoreTurn AskUntil(HeldCallWork work, ulong callId, Action restore, Func<bool> until)
    {
        var deadline = DateTime.UtcNow + Bound;
        HeldCallWork.RestoreTurn turn;
        do
        {
            turn = work.Restore(callId, restore);
            if (turn != HeldCallWork.RestoreTurn.Held || until())
                return turn;
            Thread.Sleep(1);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail("the restore rounds did not move on within 10 s");
        return turn;
    }

    [Test]
    [Description("A retry whose dispatch saw the file unprepared while the restore was finishing gets another round, not EIO (RebootTests under SeccompStatic once got EIO for a stored file)")]
    public void A_restore_that_finished_while_the_dispatch_looked_gets_another_round()
    {
        var work = new HeldCallWork();
        int rounds = 0;
        // The first round runs through; the second waits here until the end,
        // so that no ask can find it finished and start a third.
        using var secondRoundMayEnd = new SemaphoreSlim(1);
        void Restore()
        {
            Interlocked.Increment(ref rounds);
            secondRoundMayEnd.Wait(Bound);
        }

        Assert.That(work.Restore(7, Restore), Is.EqualTo(HeldCallWork.RestoreTurn.Held), "the first ask starts a restore and holds the call");
        var turn = AskUntil(work, 7, Restore, () => Volatile.Read(ref rounds) == 2);
        Assert.That(turn, Is.EqualTo(HeldCallWork.RestoreTurn.Held), "asked again after the first restore finished: held for a second round");
        Assert.That(Volatile.Read(ref rounds), Is.EqualTo(2));
        secondRoundMayEnd.Release();
    }

    [Test]
    [Description("A dispatch that keeps asking after every restore finished is a bug: bounded, then EIO (every wait has a bound)")]
    public void A_call_that_keeps_asking_for_restores_is_exhausted_after_the_bound()
    {
        var work = new HeldCallWork();
        int rounds = 0;
        void Restore() => Interlocked.Increment(ref rounds);

        var turn = AskUntil(work, 7, Restore, () => false);
        Assert.That(turn, Is.EqualTo(HeldCallWork.RestoreTurn.Exhausted));
        Assert.That(Volatile.Read(ref rounds), Is.EqualTo(HeldCallWork.MaxRestoreRounds));
    }

    [Test]
    [Description("Rounds count per call: an answered call's count goes with it, another call starts afresh")]
    public void Forget_clears_a_calls_rounds_and_other_calls_count_alone()
    {
        var work = new HeldCallWork();
        int rounds = 0;
        void Restore() => Interlocked.Increment(ref rounds);

        Assert.That(AskUntil(work, 7, Restore, () => false), Is.EqualTo(HeldCallWork.RestoreTurn.Exhausted));
        Assert.That(work.Restore(8, () => { }), Is.EqualTo(HeldCallWork.RestoreTurn.Held), "another call is not exhausted by the first");
        work.Forget(7);
        Assert.That(AskUntil(work, 7, Restore, () => false), Is.EqualTo(HeldCallWork.RestoreTurn.Exhausted));
        Assert.That(Volatile.Read(ref rounds), Is.EqualTo(2 * HeldCallWork.MaxRestoreRounds));
    }

    [Test]
    [Description("A restore that failed is thrown to the listener thread (logged with its exception, the call answered EIO), not silently run again")]
    public void A_failed_restore_is_thrown_not_run_again()
    {
        var work = new HeldCallWork();
        int rounds = 0;
        void Restore()
        {
            Interlocked.Increment(ref rounds);
            throw new InvalidDataException("store damaged");
        }

        var thrown = Assert.Throws<InvalidDataException>(() => AskUntil(work, 7, Restore, () => false));
        Assert.That(thrown!.Message, Is.EqualTo("store damaged"));
        Assert.That(Volatile.Read(ref rounds), Is.EqualTo(1), "no second round after a failure");
    }
}
