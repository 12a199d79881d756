using Microsoft.Extensions.Options;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// This instance's copy of the control plane's policy document. It is the <see cref="IOptionsMonitor{TargetPolicy}"/>
/// the resilience handlers read (the options name is the target service), so a change to one target's caller settings
/// rebuilds only that target's pipelines, and a change to its faults rebuilds none.
/// </summary>
public sealed class PolicyStore(string self) : IOptionsMonitor<TargetPolicy>
{
    private readonly Lock _gate = new();
    private readonly List<Action<TargetPolicy, string?>> _listeners = [];
    private MeshPolicy _current = new();

    /// <summary>The service this instance is.</summary>
    public string Self { get; } = self;

    public MeshPolicy Current => Volatile.Read(ref _current);

    /// <summary>When the document was last applied (null: the built-in defaults are in force).</summary>
    public DateTimeOffset? AppliedAt { get; private set; }

    /// <summary>Raised after a new document is in force.</summary>
    public event Action<MeshPolicy>? Changed;

    /// <summary>
    /// Puts <paramref name="next"/> in force. A document of the version in force is taken only when
    /// <paramref name="evenAtTheSameVersion"/> says the caller knows it is another one.
    /// </summary>
    public void Apply(MeshPolicy next, bool evenAtTheSameVersion = false)
    {
        List<Action<TargetPolicy, string?>> listeners;
        MeshPolicy previous;
        lock (_gate)
        {
            previous = _current;
            if (next.Version == previous.Version && previous.Version != 0 && !evenAtTheSameVersion)
            {
                return;
            }
            Volatile.Write(ref _current, next);
            AppliedAt = DateTimeOffset.UtcNow;
            listeners = [.. _listeners];
        }
        foreach (var target in previous.Targets.Keys.Union(next.Targets.Keys))
        {
            var now = next.For(target);
            if (previous.For(target).CallerSignature() != now.CallerSignature())
            {
                listeners.ForEach(listener => listener(now, target));
            }
        }
        Changed?.Invoke(next);
    }

    public TargetPolicy CurrentValue => Current.For(Self);

    public TargetPolicy Get(string? name) => Current.For(name ?? Self);

    public IDisposable? OnChange(Action<TargetPolicy, string?> listener)
    {
        lock (_gate)
        {
            _listeners.Add(listener);
        }
        return new Subscription(this, listener);
    }

    private sealed class Subscription(PolicyStore store, Action<TargetPolicy, string?> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (store._gate)
            {
                store._listeners.Remove(listener);
            }
        }
    }
}
