namespace Memvisor.Seam;

/// <summary>The memory keys of a domain's XenStore subtree, relative to /local/domain/N, with who writes each.</summary>
public static class StoreKeys
{
    /// <summary>The balloon target in KiB (toolstack; xl mem-set writes it).</summary>
    public const string Target = "memory/target";
    /// <summary>The most memory the domain may have, in KiB (toolstack; maxmem).</summary>
    public const string StaticMax = "memory/static-max";
    /// <summary>"1" when the toolstack has given up on the domain's balloon (toolstack; squeezed writes it).</summary>
    public const string Uncooperative = "memory/uncooperative";
    /// <summary>What the guest holds now, in KiB (guest; Linux's xen_memory0/info/current_kb, reported as its balloon moves).</summary>
    public const string Current = "memory/current";
    /// <summary>Memory the toolstack asks to have hot-plugged beyond the boot size, in KiB (toolstack; virtio-mem's requested_size).</summary>
    public const string HotplugRequested = "memory/hotplug/requested";
    /// <summary>Memory the guest has hot-plugged and onlined, in KiB (guest; virtio-mem's plugged_size).</summary>
    public const string HotplugPlugged = "memory/hotplug/plugged";
    /// <summary>The first gfn of the framebuffer the guest's display driver set aside, and its size in pages (guest; as xen-fbfront publishes its page directory).</summary>
    public const string FramebufferGfn = "device/vfb/0/framebuffer-gfn";
    public const string FramebufferPages = "device/vfb/0/framebuffer-pages";
    /// <summary>"1" when the guest runs a balloon driver (guest).</summary>
    public const string FeatureBalloon = "control/feature-balloon";

    /// <summary>Keys a guest may read but not write: the toolstack owns them (xenstored's permissions on them).</summary>
    public static bool ToolstackOwned(string key) =>
        key is Target or StaticMax or Uncooperative or HotplugRequested;
}
