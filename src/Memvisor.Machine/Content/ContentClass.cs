namespace Memvisor.Machine.Content;

/// <summary>The classes of synthetic page contents (DESIGN.md "Memory per frame"); bytes are generated from a class and a seed.</summary>
public enum ContentClass : byte
{
    Zero = 0,
    /// <summary>Guest kernel text: identical across guests booted from the same OS image.</summary>
    KernelText = 1,
    /// <summary>Shared-library pages: identical across guests that map the same library build.</summary>
    SharedLibrary = 2,
    /// <summary>Data that compresses well (text, sparse structures).</summary>
    Compressible = 3,
    /// <summary>Data that does not compress (encrypted, already compressed, random).</summary>
    Incompressible = 4,
}
