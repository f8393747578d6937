/** Every item of the given tables, for "nothing changed" assertions. */
import { type DynamoDBDocumentClient, paginateScan } from "@aws-sdk/lib-dynamodb";

export async function snapshotTables(documents: DynamoDBDocumentClient, tableNames: readonly string[]) {
  const snapshot: Record<string, string[]> = {};
  for (const tableName of tableNames) {
    const items: string[] = [];
    for await (const page of paginateScan({ client: documents }, { TableName: tableName })) {
      for (const item of page.Items ?? []) items.push(JSON.stringify(item, Object.keys(item).sort()));
    }
    snapshot[tableName] = items.sort();
  }
  return snapshot;
}
