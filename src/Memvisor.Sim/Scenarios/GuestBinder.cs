using Memvisor.Guest.Balloon;
using Memvisor.Guest.Hotplug;
using Memvisor.Guest.Images;
using Memvisor.Guest.Kernel;
using Memvisor.Machine.Frames;
using YamlDotNet.RepresentationModel;

namespace Memvisor.Sim.Scenarios;

/// <summary>Binds a domain's guest side: <c>guest:</c>, its balloon, self-balloon and hot-plug drivers, and its memory <c>image:</c>.</summary>
internal static class GuestBinder
{
    private static readonly string[] ImageKeys = ["path", "format"];

    private static long Pages(YamlBinder b, YamlNode node, string path, long fallback) => PageSize.FromBytes(b.Size(node, path) ?? PageSize.ToBytes(fallback));

    private static readonly KeyTable<BalloonOptions> Balloon = new(
        ("enabled", (b, n, p, o) => o with { Enabled = b.Boolean(n, p) ?? true }),
        ("rate", (b, n, p, o) =>
        {
            if (b.SizeRate(n, p, ScenarioLimits.MaxBalloonBytesPerSecond) is not double rate) return o;
            if (rate < PageSize.Bytes) b.Error(n, p, "the balloon must move at least one page (4KiB) per second.");
            return o with { RatePagesPerSecond = rate / PageSize.Bytes };
        }),
        ("floor", (b, n, p, o) => o with { FloorPages = Pages(b, n, p, 0) }));

    private static readonly KeyTable<SelfBalloonOptions> SelfBalloon = new(
        ("enabled", (b, n, p, o) => o with { Enabled = b.Boolean(n, p) ?? true }),
        ("interval", (b, n, p, o) => o with { IntervalNs = b.Interval(n, p) ?? o.IntervalNs }),
        ("downhysteresis", (b, n, p, o) => o with { DownHysteresis = (int)(b.Integer(n, p, 1, 1000) ?? o.DownHysteresis) }),
        ("uphysteresis", (b, n, p, o) => o with { UpHysteresis = (int)(b.Integer(n, p, 1, 1000) ?? o.UpHysteresis) }),
        ("reserve", (b, n, p, o) => o with { ReservePages = Pages(b, n, p, 0) }),
        ("min_usable", (b, n, p, o) => o with { MinUsablePages = Pages(b, n, p, 0) }));

    private static readonly KeyTable<HotplugOptions> Hotplug = new(
        ("enabled", (b, n, p, o) => o with { Enabled = b.Boolean(n, p) ?? true }),
        ("block", (b, n, p, o) =>
        {
            long block = Pages(b, n, p, o.BlockPages);
            if (block >= 512 && (block & (block - 1)) == 0) return o with { BlockPages = block };
            b.Error(n, p, "a memory block is a power of two of at least 2MiB.");
            return o;
        }),
        ("rate", (b, n, p, o) => o with { BlocksPerSecond = b.Rate(n, p, ScenarioLimits.MaxBlockRate) ?? o.BlocksPerSecond }));

    private static readonly KeyTable<GuestOptions> Guest = new(
        ("swap", (b, n, p, g) => g with { SwapPages = PageSize.FromBytes(b.Size(n, p) ?? 0) }),
        ("kernel_image", (b, n, p, g) => b.String(n, p) is { Length: > 0 } image ? g with { KernelImage = image } : g),
        ("swappiness", (b, n, p, g) => g with { Swappiness = (int)(b.Integer(n, p, 0, 200) ?? g.Swappiness) }),
        ("dirty_background_ratio", (b, n, p, g) => g with { DirtyBackgroundRatio = (int)(b.Integer(n, p, 0, 100) ?? g.DirtyBackgroundRatio) }),
        ("dirty_expire", (b, n, p, g) => g with { DirtyExpireNs = b.Duration(n, p) ?? g.DirtyExpireNs }),
        ("check_integrity", (b, n, p, g) => g with { CheckIntegrity = b.Boolean(n, p) ?? false }),
        // Linux's memory tiering across the guest's virtual NUMA nodes (demotion_enabled, numa_balancing=2); needs vnuma.
        ("tiering", (b, n, p, g) => g with { Tiering = b.Boolean(n, p) ?? false }),
        // /sys/kernel/mm/transparent_hugepage/enabled: always or never (the workloads make no madvise call).
        ("thp", (b, n, p, g) => b.OneOf(n, p, ["always", "never"]) is string thp ? g with { TransparentHugePages = thp == "always" } : g),
        ("demand_paging", (b, n, p, g) => b.OneOf(n, p, ["linux", "windows"]) is string style
            ? g with { DemandPaging = style == "windows" ? DemandPaging.Windows : DemandPaging.Linux } : g));

    // balloon, selfballoon and hotplug: a section that is present turns its mechanism on unless it says enabled: false.
    internal static GuestOptions BindBalloons(YamlBinder b, Dictionary<string, YamlNode> f, string path, GuestOptions guest)
    {
        if (f.TryGetValue("balloon", out var bn)) guest = guest with { Balloon = Balloon.Bind(b, bn, $"{path}.balloon", new BalloonOptions { Enabled = true }) };
        if (f.TryGetValue("selfballoon", out var sn)) guest = guest with { SelfBalloon = SelfBalloon.Bind(b, sn, $"{path}.selfballoon", new SelfBalloonOptions { Enabled = true }) };
        if (f.TryGetValue("hotplug", out var hn)) guest = guest with { Hotplug = Hotplug.Bind(b, hn, $"{path}.hotplug", new HotplugOptions { Enabled = true }) };
        return guest;
    }

    internal static GuestOptions BindGuest(YamlBinder b, YamlNode node, string path) => Guest.Bind(b, node, path, new GuestOptions());

    // image: PATH, or image: { path: PATH, format: auto|elf|raw }; the headers are checked now, so a bad image stops the scenario before it runs.
    internal static MemoryImageSpec? BindImage(YamlBinder b, YamlNode node, string path)
    {
        YamlNode? pathNode = node;
        string format = "auto";
        if (node is not YamlScalarNode)
        {
            var f = b.Fields(node, path, ImageKeys, ["path"]);
            pathNode = f.GetValueOrDefault("path");
            if (f.TryGetValue("format", out var fm))
            {
                if (b.OneOf(fm, $"{path}.format", [.. ImageFile.Formats]) is not { } known) return null;
                format = known;
            }
        }
        string field = node is YamlScalarNode ? path : $"{path}.path";
        if (pathNode is null || b.FilePath(pathNode, field) is not var (_, full)) return null;
        try
        {
            using var image = ImageFile.Open(full, format);
            return new MemoryImageSpec(full, format);
        }
        catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
        {
            b.Error(pathNode, field, $"the memory image was refused: {e.Message}");
            return null;
        }
    }
}
