using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Basket.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class PendingCheckoutPaymentMethod : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "PaymentMethod",
                table: "Checkouts",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);
            // Checkouts kept before the column: their request hash tells the storefront's methods apart, and a retry must
            // send the method again. Others stay unknown (null).
            foreach (var method in (string[])["tok_visa", "tok_decline"])
            {
                migrationBuilder.Sql(
                    $"UPDATE \"Checkouts\" SET \"PaymentMethod\" = '{method}' WHERE \"PaymentMethod\" IS NULL AND \"RequestHash\" = '{Mercato.ServiceDefaults.Http.IdempotencyKeyHeader.RequestHash(method)}';");
            }
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "PaymentMethod",
                table: "Checkouts");
        }
    }
}
