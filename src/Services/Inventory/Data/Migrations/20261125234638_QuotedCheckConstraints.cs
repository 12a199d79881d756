using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Inventory.Data.Migrations
{
    /// <inheritdoc />
    public partial class QuotedCheckConstraints : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "CK_StockItems_OnHand",
                table: "StockItems");

            migrationBuilder.DropCheckConstraint(
                name: "CK_StockItems_Reserved",
                table: "StockItems");

            migrationBuilder.DropCheckConstraint(
                name: "CK_Reservations_Quantity",
                table: "Reservations");

            migrationBuilder.AddCheckConstraint(
                name: "CK_StockItems_OnHand",
                table: "StockItems",
                sql: "\"OnHand\" >= 0");

            migrationBuilder.AddCheckConstraint(
                name: "CK_StockItems_Reserved",
                table: "StockItems",
                sql: "\"Reserved\" >= 0 AND \"Reserved\" <= \"OnHand\"");

            migrationBuilder.AddCheckConstraint(
                name: "CK_Reservations_Quantity",
                table: "Reservations",
                sql: "\"Quantity\" > 0");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "CK_StockItems_OnHand",
                table: "StockItems");

            migrationBuilder.DropCheckConstraint(
                name: "CK_StockItems_Reserved",
                table: "StockItems");

            migrationBuilder.DropCheckConstraint(
                name: "CK_Reservations_Quantity",
                table: "Reservations");

            migrationBuilder.AddCheckConstraint(
                name: "CK_StockItems_OnHand",
                table: "StockItems",
                sql: "OnHand >= 0");

            migrationBuilder.AddCheckConstraint(
                name: "CK_StockItems_Reserved",
                table: "StockItems",
                sql: "Reserved >= 0 AND Reserved <= OnHand");

            migrationBuilder.AddCheckConstraint(
                name: "CK_Reservations_Quantity",
                table: "Reservations",
                sql: "Quantity > 0");
        }
    }
}
