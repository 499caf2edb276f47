using Memvisor.Seam;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim.Images;

/// <summary>Domains booted on real memory images (scenario image:): their gfns hold the image's bytes, and sharing works on those bytes.</summary>
public class ImageDomainTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-images-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_domain_starts_with_its_image_s_bytes_and_the_sharing_scanner_merges_the_real_duplicates()
    {
        string[] paths = RealImages.Unpack(_dir);
        string dir = Path.GetDirectoryName(paths[0])!;
        string scenarioPath = Path.Combine(dir, "images.yaml");
        File.WriteAllText(scenarioPath, $"""
            name: images
            seed: 5
            duration: 10s
            host:
              memory: 512MiB
              dom0: {"{"} memory: 64MiB {"}"}
              sharing: {"{"} scan_rate: 50000/s {"}"}
            domains:
              - {"{"} name: a, memory: 64MiB, sharing: true, image: {Path.GetFileName(paths[0])}, workload: {"{"} kind: steady, working_set: 8MiB, rate: 1000/s {"}"} {"}"}
              - {"{"} name: b, memory: 64MiB, sharing: true, image: {"{"} path: {Path.GetFileName(paths[1])}, format: elf {"}"}, workload: {"{"} kind: steady, working_set: 8MiB, rate: 1000/s {"}"} {"}"}
            """);
        var scenario = ScenarioLoader.LoadFile(scenarioPath);
        var result = new Simulation(scenario).Run();

        var nonZero = new List<byte[]>();
        var page = new byte[RealImages.Page];
        foreach (var (name, path) in new[] { ("a", paths[0]), ("b", paths[1]) })
        {
            var guest = result.Domains.Single(d => d.Name == name).Guest!;
            var fill = guest.ImageFill!;
            var pages = RealImages.Pages(path);
            // The fixtures hold guest-physical 16 MiB .. 20 MiB: gfns 4096 on.
            const ulong firstGfn = 4096;
            Assert.Equal(pages.Count(p => !RealImages.IsZero(p)), fill.Loaded);
            Assert.Equal(pages.Count(RealImages.IsZero), fill.ZeroPages);
            Assert.Equal(0, fill.OutsideMemory);
            for (int i = 0; i < pages.Count; i++)
            {
                if (RealImages.IsZero(pages[i])) continue;
                Assert.True(guest.Memory.ReadPage(new Gfn(firstGfn + (ulong)i), page), $"{name}: gfn {firstGfn + (ulong)i} holds no page");
                Assert.True(page.AsSpan().SequenceEqual(pages[i]), $"{name}: gfn {firstGfn + (ulong)i} does not hold the image's bytes");
                nonZero.Add(pages[i]);
            }
        }
        // Every duplicate among the images' non-zero pages is merged; the guests' own library pages add a few dozen more.
        long duplicates = nonZero.Count - nonZero.Select(RealImages.Key).Distinct().Count();
        Assert.True(duplicates > 100, $"the fixtures hold only {duplicates} duplicate pages");
        Assert.InRange(result.Mechanisms.Sharing.PagesSharing, duplicates, duplicates + 256);
    }
}
