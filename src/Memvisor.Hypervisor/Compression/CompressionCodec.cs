namespace Memvisor.Hypervisor.Compression;

public enum CompressionCodec { Lz4, Zstd }
