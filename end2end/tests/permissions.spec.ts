import { test, expect } from "@playwright/test";
import { addProxmoxEndpoint, freePortPair, hydrated, login, startSim, stopSim, uniqueName, watchConsole } from "./helpers";

test("Check permissions on the endpoint page shows, per stage, what the token lacks", async ({ page }) => {
  const errors = watchConsole(page);
  const port = await freePortPair();
  const sim = await startSim(port, "perms");
  try {
    // A PVE 8 token without Datastore.Audit and VM.Monitor (the simulator checks as Proxmox does).
    const restricted = await fetch(`http://127.0.0.1:${port}/_sim/permissions`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ "/": ["Sys.Audit", "VM.Audit", "Pool.Audit", "SDN.Audit"] }),
    });
    expect(restricted.status).toBe(204);
    const name = uniqueName("perms");
    await login(page);
    await addProxmoxEndpoint(page, name, `http://127.0.0.1:${port}`);
    await page.getByRole("link", { name, exact: true }).click();
    await hydrated(page);
    await page.getByTestId("check-permissions").click();
    await expect(page).toHaveURL(/\/endpoints\/proxmox\/\d+\/permissions$/);

    await expect(page.getByTestId("doctor-verdict")).toContainText("cannot run");
    const row = (stage: string) => page.locator(`[data-testid="doctor-stage"][data-stage="${stage}"]`);
    // (stage, can run, what the missing column names), by hand.
    const expected: [string, string, string | null][] = [
      ["devices", "yes", null],
      ["storage", "no", "Datastore.Audit on /storage"],
      ["backups", "no", "Datastore.Audit on /storage"],
      ["virtual-machines", "partly", "VM.Monitor on /vms"],
      ["vm-ip-addresses", "partly", "VM.Monitor on /vms"],
      ["node-interfaces", "yes", null],
      ["networks", "yes", null],
    ];
    for (const [stage, can, missing] of expected) {
      await expect(row(stage).locator("td").nth(1)).toHaveText(can);
      if (missing) await expect(row(stage).locator("td").nth(2)).toContainText(missing);
      else await expect(row(stage).locator("td").nth(2)).toHaveText("");
    }
    // The twelve stages of the system Proxbox replaces and its own networks stage.
    await expect(page.locator('[data-testid="doctor-stage"]')).toHaveCount(13);

    // Granted everything, the same page says every stage can run.
    expect((await fetch(`http://127.0.0.1:${port}/_sim/permissions`, { method: "DELETE" })).status).toBe(204);
    await page.reload();
    for (const [stage] of expected) await expect(row(stage).locator("td").nth(1)).toHaveText("yes");
    expect(errors).toEqual([]);
  } finally {
    await stopSim(sim);
  }
});
