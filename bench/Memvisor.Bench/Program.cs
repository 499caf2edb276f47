using BenchmarkDotNet.Running;
using Memvisor.Bench;

// `bytes-per-frame [GiB]` measures the per-frame cost on a populated host; `ratios` prints the codecs' compression
// ratios per content class; `cores [N]` what N busy cores cost each other; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "bytes-per-frame")
    return BytesPerFrame.Run(args.Length > 1 ? long.Parse(args[1]) : 64);
if (args.Length > 0 && args[0] == "cores")
    return TwoCores.Run(args.Length > 1 && int.TryParse(args[1], out int n) ? n : Environment.ProcessorCount);
if (args.Length > 0 && args[0] == "ratios")
    return CompressionRatios.Run();
BenchmarkSwitcher.FromAssembly(typeof(HeapBenchmarks).Assembly).Run(args);
return 0;
