using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

public class UnitsTests
{
    [Theory]
    [InlineData("512", 512L << 20)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("1536MiB", 1536L << 20)]
    [InlineData("64KiB", 64L << 10)]
    [InlineData("1TiB", 1L << 40)]
    [InlineData("1.5GiB", 3L << 29)]
    public void Sizes_take_xl_units_and_a_bare_number_is_MiB(string text, long bytes)
    {
        Assert.True(Units.TryParseSize(text, out long parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("2XB")]
    [InlineData("GiB")]
    [InlineData("-1GiB")]
    [InlineData("ten")]
    public void Bad_sizes_are_refused(string text) => Assert.False(Units.TryParseSize(text, out _));

    [Theory]
    [InlineData("250ms", 250_000_000L)]
    [InlineData("30s", 30_000_000_000L)]
    [InlineData("5min", 300_000_000_000L)]
    [InlineData("2h", 7_200_000_000_000L)]
    public void Durations_take_ms_s_min_h(string text, long ns)
    {
        Assert.True(Units.TryParseDuration(text, out long parsed));
        Assert.Equal(ns, parsed);
    }

    [Fact]
    public void Rates_are_per_second_or_per_other_unit()
    {
        Assert.True(Units.TryParseRate("20000/s", out double a));
        Assert.Equal(20000, a);
        Assert.True(Units.TryParseRate("600/min", out double b));
        Assert.Equal(10, b, 9);
        Assert.False(Units.TryParseRate("fast/s", out _));
    }
}
