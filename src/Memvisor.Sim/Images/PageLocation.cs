namespace Memvisor.Sim.Images;

/// <summary>Where a page's bytes are: the analysis's <paramref name="Image"/>-th image, its <paramref name="Page"/>-th page in reading order.</summary>
public readonly record struct PageLocation(int Image, long Page);
