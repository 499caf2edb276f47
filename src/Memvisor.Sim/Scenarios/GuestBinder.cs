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
    private static readonly string[] BalloonKeys = ["enabled", "rate", "floor"];
    private static readonly string[] SelfBalloonKeys = ["enabled", "interval", "downhysteresis", "uphysteresis", "reserve", "min_usable"];
    private static readonly string[] HotplugKeys = ["enabled", "block", "rate"];
    private static readonly string[] GuestKeys = ["swap", "kernel_image", "swappiness", "dirty_background_ratio", "dirty_expire", "check_integrity", "demand_paging"];

    // balloon, selfballoon and hotplug: a section that is present turns its mechanism on unless it says enabled: false.
    internal static GuestOptions BindBalloons(YamlBinder b, Dictionary<string, YamlNode> f, string path, GuestOptions guest)
    {
        bool Enabled(Dictionary<string, YamlNode> g, string at) => !g.TryGetValue("enabled", out var e) || (b.Boolean(e, $"{at}.enabled") ?? true);
        long Pages(YamlNode node, string at, long fallback) => PageSize.FromBytes(b.Size(node, at) ?? PageSize.ToBytes(fallback));
        if (f.TryGetValue("balloon", out var bn))
        {
            var g = b.Fields(bn, $"{path}.balloon", BalloonKeys, []);
            var o = new BalloonOptions { Enabled = Enabled(g, $"{path}.balloon") };
            if (g.TryGetValue("rate", out var r) && b.SizeRate(r, $"{path}.balloon.rate", ScenarioLimits.MaxBalloonBytesPerSecond) is double rate)
            {
                if (rate < PageSize.Bytes) b.Error(r, $"{path}.balloon.rate", "the balloon must move at least one page (4KiB) per second.");
                o = o with { RatePagesPerSecond = rate / PageSize.Bytes };
            }
            if (g.TryGetValue("floor", out var fl)) o = o with { FloorPages = Pages(fl, $"{path}.balloon.floor", 0) };
            guest = guest with { Balloon = o };
        }
        if (f.TryGetValue("selfballoon", out var sn))
        {
            var g = b.Fields(sn, $"{path}.selfballoon", SelfBalloonKeys, []);
            var o = new SelfBalloonOptions { Enabled = Enabled(g, $"{path}.selfballoon") };
            if (g.TryGetValue("interval", out var i)) o = o with { IntervalNs = b.Interval(i, $"{path}.selfballoon.interval") ?? o.IntervalNs };
            if (g.TryGetValue("downhysteresis", out var dh)) o = o with { DownHysteresis = (int)(b.Integer(dh, $"{path}.selfballoon.downhysteresis", 1, 1000) ?? 8) };
            if (g.TryGetValue("uphysteresis", out var uh)) o = o with { UpHysteresis = (int)(b.Integer(uh, $"{path}.selfballoon.uphysteresis", 1, 1000) ?? 1) };
            if (g.TryGetValue("reserve", out var rs)) o = o with { ReservePages = Pages(rs, $"{path}.selfballoon.reserve", 0) };
            if (g.TryGetValue("min_usable", out var mu)) o = o with { MinUsablePages = Pages(mu, $"{path}.selfballoon.min_usable", 0) };
            guest = guest with { SelfBalloon = o };
        }
        if (f.TryGetValue("hotplug", out var hn))
        {
            var g = b.Fields(hn, $"{path}.hotplug", HotplugKeys, []);
            var o = new HotplugOptions { Enabled = Enabled(g, $"{path}.hotplug") };
            if (g.TryGetValue("block", out var bl))
            {
                long block = Pages(bl, $"{path}.hotplug.block", o.BlockPages);
                if (block < 512 || (block & (block - 1)) != 0) b.Error(bl, $"{path}.hotplug.block", "a memory block is a power of two of at least 2MiB.");
                else o = o with { BlockPages = block };
            }
            if (g.TryGetValue("rate", out var hr)) o = o with { BlocksPerSecond = b.Rate(hr, $"{path}.hotplug.rate", ScenarioLimits.MaxBlockRate) ?? o.BlocksPerSecond };
            guest = guest with { Hotplug = o };
        }
        return guest;
    }

    internal static GuestOptions BindGuest(YamlBinder b, YamlNode node, string path)
    {
        var f = b.Fields(node, path, GuestKeys, []);
        var g = new GuestOptions();
        if (f.TryGetValue("swap", out var sw)) g = g with { SwapPages = PageSize.FromBytes(b.Size(sw, $"{path}.swap") ?? 0) };
        if (f.TryGetValue("kernel_image", out var ki) && b.String(ki, $"{path}.kernel_image") is { Length: > 0 } image) g = g with { KernelImage = image };
        if (f.TryGetValue("swappiness", out var sp)) g = g with { Swappiness = (int)(b.Integer(sp, $"{path}.swappiness", 0, 200) ?? 60) };
        if (f.TryGetValue("dirty_background_ratio", out var dr)) g = g with { DirtyBackgroundRatio = (int)(b.Integer(dr, $"{path}.dirty_background_ratio", 0, 100) ?? 10) };
        if (f.TryGetValue("dirty_expire", out var de)) g = g with { DirtyExpireNs = b.Duration(de, $"{path}.dirty_expire") ?? g.DirtyExpireNs };
        if (f.TryGetValue("check_integrity", out var ci)) g = g with { CheckIntegrity = b.Boolean(ci, $"{path}.check_integrity") ?? false };
        if (f.TryGetValue("demand_paging", out var dp) && b.OneOf(dp, $"{path}.demand_paging", ["linux", "windows"]) is string style)
            g = g with { DemandPaging = style == "windows" ? DemandPaging.Windows : DemandPaging.Linux };
        return g;
    }

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
