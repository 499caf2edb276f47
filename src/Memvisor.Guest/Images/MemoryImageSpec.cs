namespace Memvisor.Guest.Images;

/// <summary>A memory image a guest boots with (scenario <c>image:</c>): its file and format (auto, elf or raw).</summary>
public sealed record MemoryImageSpec(string Path, string Format = "auto");
