using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mercato.ServiceDefaults.Configuration;

/// <summary>
/// Settings checked when the host starts. A value out of range or unreadable stops the start with a message naming the
/// setting; bound lazily, it started a process that failed later and elsewhere (an order cancelled at once, a timer
/// that stopped the host minutes in, a 500 on one page).
/// </summary>
public static class ValidatedSettings
{
    /// <summary>Binds <paramref name="section"/> to <typeparamref name="TSettings"/> and checks its validation attributes at start.</summary>
    public static OptionsBuilder<TSettings> AddValidatedSettings<TSettings>(this IServiceCollection services, IConfiguration section)
        where TSettings : class =>
        services.AddOptions<TSettings>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
}

/// <summary>Bounds shared by the settings' <c>[Range]</c> attributes (constants, as attributes need them).</summary>
public static class SettingBounds
{
    /// <summary>The shortest period of a loop that calls another process: anything shorter only floods it.</summary>
    public const string MinPeriod = "00:00:00.010";

    /// <summary>The longest period a <see cref="PeriodicTimer"/> or <see cref="Task.Delay(TimeSpan)"/> takes (about 49.7 days).</summary>
    public const string MaxPeriod = "49.00:00:00";

    /// <summary>The longest span a setting that is added to the current time may have without risk of overflow.</summary>
    public const string MaxSpan = "3650.00:00:00";
}
