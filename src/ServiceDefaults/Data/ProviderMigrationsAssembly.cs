using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Migrations.Internal;

namespace Mercato.ServiceDefaults.Data;

/// <summary>
/// One DbContext, two migration sets in the service's assembly: PostgreSQL's in a namespace ending in <c>.Postgres</c>
/// (<c>Data/Migrations/Postgres</c>), SQLite's in the rest. EF Core finds migrations by context type only, so this shows
/// it the set of the provider in use, for both applying and adding migrations.
/// </summary>
#pragma warning disable EF1001 // MigrationsAssembly is EF's internal default; it is wrapped, not changed.
internal sealed class ProviderMigrationsAssembly : IMigrationsAssembly
{
    private const string PostgresNamespaceSuffix = ".Postgres";

    private readonly MigrationsAssembly _all;
    private readonly Type _contextType;
    private readonly bool _postgres;
    private IReadOnlyDictionary<string, TypeInfo>? _migrations;
    private ModelSnapshot? _snapshot;

    public ProviderMigrationsAssembly(
        ICurrentDbContext currentContext, IDbContextOptions options, IMigrationsIdGenerator idGenerator,
        IDiagnosticsLogger<DbLoggerCategory.Migrations> logger)
    {
        _all = new MigrationsAssembly(currentContext, options, idGenerator, logger);
        _contextType = currentContext.Context.GetType();
        _postgres = currentContext.Context.Database.ProviderName == "Npgsql.EntityFrameworkCore.PostgreSQL";
    }

    public Assembly Assembly => _all.Assembly;

    public IReadOnlyDictionary<string, TypeInfo> Migrations =>
        _migrations ??= _all.Migrations.Where(m => BelongsToProvider(m.Value)).ToDictionary(m => m.Key, m => m.Value);

    public ModelSnapshot? ModelSnapshot => _snapshot ??= Assembly.DefinedTypes
        .Where(t => !t.IsAbstract && t.IsSubclassOf(typeof(ModelSnapshot)) && BelongsToProvider(t)
            && t.GetCustomAttribute<DbContextAttribute>()?.ContextType == _contextType)
        .Select(t => (ModelSnapshot?)Activator.CreateInstance(t))
        .FirstOrDefault();

    public string? FindMigrationId(string nameOrId) => Migrations.Keys.FirstOrDefault(id =>
        string.Equals(id, nameOrId, StringComparison.OrdinalIgnoreCase)
        || id.EndsWith("_" + nameOrId, StringComparison.OrdinalIgnoreCase));

    public Migration CreateMigration(TypeInfo migrationClass, string activeProvider) => _all.CreateMigration(migrationClass, activeProvider);

    private bool BelongsToProvider(Type type) =>
        (type.Namespace?.EndsWith(PostgresNamespaceSuffix, StringComparison.Ordinal) ?? false) == _postgres;
}
#pragma warning restore EF1001
