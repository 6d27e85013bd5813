using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>Hands out <see cref="FakeHandoverImage"/>s and keeps them, in order.</summary>
public sealed class FakeHandoverTarget(Func<FakeHandoverImage>? make = null) : IHandoverTarget
{
    public List<(RebootMode Mode, FakeHandoverImage Image)> Images { get; } = [];

    public Errno NewImage(RebootMode mode, int? requester, TextWriter? progress, out IHandoverImage? image)
    {
        FakeHandoverImage made = make?.Invoke() ?? new FakeHandoverImage();
        Images.Add((mode, made));
        image = made;
        return Errno.None;
    }
}
