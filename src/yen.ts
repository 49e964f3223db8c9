/** JPY for people: "¥1,000,000". */
export function yen(amount: number): string {
  return `¥${amount.toLocaleString("en-US")}`;
}
