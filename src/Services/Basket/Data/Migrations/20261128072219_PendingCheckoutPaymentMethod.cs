using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Basket.Data.Migrations
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
                type: "TEXT",
                maxLength: 64,
                nullable: true);
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
