using Memvisor.Hypervisor.Save;

namespace Memvisor.Sim.Engine;

/// <summary>One instance's saves and restores (xl save, xl restore): how many, the last image, and the time they took and the time it spent saved.</summary>
public sealed class SaveRestoreTally
{
    public int Saves { get; set; }
    public int Restores { get; set; }
    /// <summary>Saves and restores the hypervisor refused (the domain kept running, or stayed saved).</summary>
    public int Refused { get; set; }
    /// <summary>The last image written.</summary>
    public SaveStats LastImage { get; set; }
    /// <summary>Bytes of every image written.</summary>
    public long ImageBytes { get; set; }
    /// <summary>Modeled time writing and reading images: their bytes at the cost model's sequential disk rate.</summary>
    public double SaveNs { get; set; }
    public double RestoreNs { get; set; }
    /// <summary>Simulated time between each save and its restore (or the run's end), summed.</summary>
    public long SavedNs { get; set; }
    /// <summary>When the instance was last saved; -1 while it is not saved.</summary>
    public long SavedAtNs { get; set; } = -1;
}
