using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Basket.Data.Migrations
{
    /// <inheritdoc />
    public partial class QuotedCheckConstraints : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "CK_BasketLines_Quantity",
                table: "Lines");

            migrationBuilder.AddCheckConstraint(
                name: "CK_BasketLines_Quantity",
                table: "Lines",
                sql: "\"Quantity\" > 0");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "CK_BasketLines_Quantity",
                table: "Lines");

            migrationBuilder.AddCheckConstraint(
                name: "CK_BasketLines_Quantity",
                table: "Lines",
                sql: "Quantity > 0");
        }
    }
}
