namespace Memvisor.Guest.Workloads;

/// <summary>
/// Draws ranks 1..n with probability proportional to 1/rank^s in constant time, by rejection-inversion
/// (Hörmann and Derflinger, "Rejection-inversion to generate variates from monotone discrete distributions", 1996).
/// </summary>
internal sealed class ZipfSampler
{
    private readonly long _n;
    private readonly double _s, _hX1, _hN, _sDiv;

    public ZipfSampler(long n, double exponent)
    {
        _n = n;
        _s = exponent;
        _hX1 = H(1.5) - 1;
        _hN = H(n + 0.5);
        _sDiv = 2 - HInverse(H(2.5) - Density(2));
    }

    public long Next(Func<double> uniform)
    {
        while (true)
        {
            double u = _hN + uniform() * (_hX1 - _hN);
            double x = HInverse(u);
            long k = Math.Clamp((long)(x + 0.5), 1, _n);
            if (k - x <= _sDiv || u >= H(k + 0.5) - Density(k)) return k;
        }
    }

    private double Density(double x) => Math.Exp(-_s * Math.Log(x));

    // The integral of the density, (x^(1-s) - 1) / (1 - s), written to stay exact as s approaches 1.
    private double H(double x)
    {
        double log = Math.Log(x);
        return ExpM1OverX((1 - _s) * log) * log;
    }

    private double HInverse(double y)
    {
        double t = Math.Max(-1, y * (1 - _s));
        return Math.Exp(Log1POverX(t) * y);
    }

    private static double ExpM1OverX(double x) => Math.Abs(x) > 1e-8 ? (Math.Exp(x) - 1) / x : 1 + x / 2 * (1 + x / 3);
    private static double Log1POverX(double x) => Math.Abs(x) > 1e-8 ? Math.Log(1 + x) / x : 1 - x * (0.5 - x / 3);
}
