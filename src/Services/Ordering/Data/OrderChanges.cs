using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;

namespace Mercato.Ordering.Data;

/// <summary>
/// How many reads one instance of ordering holds at once for <c>Prefer: wait</c> (configuration section
/// <c>Ordering:HeldReads</c>). Each held read keeps a connection open and reads the order again every
/// <see cref="OrderChanges.RecheckInterval"/>, so without a bound one signed-in client could hold thousands.
/// </summary>
public sealed class HeldReadLimits
{
    /// <summary>Held reads in all; 0 holds none.</summary>
    [Range(0, int.MaxValue, ErrorMessage = "Ordering:HeldReads:PerInstance must be from {1} to {2}.")]
    public int PerInstance { get; set; } = 1_000;

    /// <summary>Held reads of one signed-in caller: a storefront tab holds one per order it shows.</summary>
    [Range(0, int.MaxValue, ErrorMessage = "Ordering:HeldReads:PerCaller must be from {1} to {2}.")]
    public int PerCaller { get; set; } = 20;
}

/// <summary>
/// Wakes requests that wait for an order to change (<c>GET /api/orders/{id}</c> with <c>Prefer: wait</c>) when this
/// instance commits a change to it. Changes committed by another instance are not seen here: waiters re-read the
/// order on their own every <see cref="RecheckInterval"/> as well.
/// </summary>
public sealed class OrderChanges(IOptions<HeldReadLimits> limits)
{
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private readonly Dictionary<Guid, Waiters> _waiting = [];
    private readonly HeldReadLimits _limits = limits.Value;
    private readonly Dictionary<string, int> _heldBy = new(StringComparer.Ordinal);
    private int _held;

    /// <summary>
    /// A place for one held read of <paramref name="caller"/>, to dispose when answered; null when this instance already
    /// holds as many as <see cref="HeldReadLimits"/> allow, in all or for this caller. The read is then answered at once,
    /// without <c>Preference-Applied</c>, as RFC 7240 lets a server ignore a preference.
    /// </summary>
    public IDisposable? TryHold(string caller)
    {
        lock (_heldBy)
        {
            var callers = _heldBy.GetValueOrDefault(caller);
            if (_held >= _limits.PerInstance || callers >= _limits.PerCaller)
            {
                return null;
            }
            _held++;
            _heldBy[caller] = callers + 1;
            return new Hold(this, caller);
        }
    }

    /// <summary>Reads held at this moment (a metric).</summary>
    public int Held
    {
        get
        {
            lock (_heldBy)
            {
                return _held;
            }
        }
    }

    private void Release(string caller)
    {
        lock (_heldBy)
        {
            _held--;
            var left = _heldBy[caller] - 1;
            if (left == 0)
            {
                _heldBy.Remove(caller);
            }
            else
            {
                _heldBy[caller] = left;
            }
        }
    }

    private sealed class Hold(OrderChanges owner, string caller) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Release(caller);
            }
        }
    }

    /// <summary>
    /// Call before reading the order, so that a change committed between the read and the wait is not missed;
    /// dispose when done waiting.
    /// </summary>
    public Subscription Subscribe(Guid orderId)
    {
        lock (_waiting)
        {
            if (!_waiting.TryGetValue(orderId, out var waiters))
            {
                waiters = new Waiters();
                _waiting[orderId] = waiters;
            }
            waiters.Count++;
            return new Subscription(this, orderId, waiters);
        }
    }

    /// <summary>The order's change is committed: every subscription taken before now completes.</summary>
    public void Committed(Guid orderId)
    {
        Waiters? waiters;
        lock (_waiting)
        {
            if (!_waiting.Remove(orderId, out waiters))
            {
                return;
            }
        }
        waiters.Changed.TrySetResult();
    }

    /// <summary>Whether a request is waiting for this order to change (for tests and diagnostics).</summary>
    public bool IsWaitedOn(Guid orderId)
    {
        lock (_waiting)
        {
            return _waiting.ContainsKey(orderId);
        }
    }

    private void Unsubscribe(Guid orderId, Waiters waiters)
    {
        lock (_waiting)
        {
            if (--waiters.Count == 0 && _waiting.TryGetValue(orderId, out var current) && current == waiters)
            {
                _waiting.Remove(orderId);
            }
        }
    }

    internal sealed class Waiters
    {
        public readonly TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Count;
    }

    public sealed class Subscription : IDisposable
    {
        private readonly OrderChanges _owner;
        private readonly Guid _orderId;
        private readonly Waiters _waiters;
        private bool _disposed;

        internal Subscription(OrderChanges owner, Guid orderId, Waiters waiters) =>
            (_owner, _orderId, _waiters) = (owner, orderId, waiters);

        public Task Changed => _waiters.Changed.Task;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                _owner.Unsubscribe(_orderId, _waiters);
            }
        }
    }
}

/// <summary>
/// Tells <see cref="OrderChanges"/> which orders' views a unit of work changed, and runs its other after-commit actions
/// (<see cref="OrderingDb.OnCommitted"/>), once it is committed: at the end of SaveChanges without a transaction, or
/// when the transaction around it (Wolverine's handlers open one) commits. A unit of work rolled back forgets them.
/// Marks when a commit begins (<see cref="OrderingDb.CommitStarted"/>).
/// </summary>
public sealed class OrderChangeNotifier(OrderChanges changes) : ISaveChangesInterceptor, IDbTransactionInterceptor
{
    public InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        Collect(eventData.Context);
        return result;
    }

    public ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        Collect(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        PublishUnlessInTransaction(eventData.Context);
        return result;
    }

    public ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        PublishUnlessInTransaction(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public void SaveChangesFailed(DbContextErrorEventData eventData) => DiscardUnlessInTransaction(eventData.Context);

    public Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        DiscardUnlessInTransaction(eventData.Context);
        return Task.CompletedTask;
    }

    public InterceptionResult TransactionCommitting(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result)
    {
        MarkCommitStarted(eventData.Context);
        return result;
    }

    public ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result,
        CancellationToken cancellationToken = default)
    {
        MarkCommitStarted(eventData.Context);
        return ValueTask.FromResult(result);
    }

    private static void MarkCommitStarted(DbContext? context)
    {
        if (context is OrderingDb db)
        {
            db.CommitStarted = true;
        }
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Publish(eventData.Context);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Publish(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Discard(eventData.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Discard(eventData.Context);
        return Task.CompletedTask;
    }

    private static void Collect(DbContext? context)
    {
        if (context is OrderingDb db)
        {
            foreach (var entry in db.ChangeTracker.Entries<OrderDocument>())
            {
                if (entry.State is EntityState.Added or EntityState.Modified)
                {
                    db.UncommittedOrderChanges.Add(entry.Entity.Id);
                }
            }
        }
    }

    private void PublishUnlessInTransaction(DbContext? context)
    {
        if (context?.Database.CurrentTransaction is null)
        {
            Publish(context);
        }
    }

    private static void DiscardUnlessInTransaction(DbContext? context)
    {
        if (context?.Database.CurrentTransaction is null)
        {
            Discard(context);
        }
    }

    private void Publish(DbContext? context)
    {
        if (context is not OrderingDb db)
        {
            return;
        }
        foreach (var orderId in db.UncommittedOrderChanges)
        {
            changes.Committed(orderId);
        }
        db.UncommittedOrderChanges.Clear();
        var actions = db.OnCommitted.ToList();
        db.OnCommitted.Clear();
        actions.ForEach(action => action());
    }

    private static void Discard(DbContext? context)
    {
        if (context is OrderingDb db)
        {
            db.UncommittedOrderChanges.Clear();
            db.OnCommitted.Clear();
        }
    }
}
