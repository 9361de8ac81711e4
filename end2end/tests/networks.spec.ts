// Proxmox SDN and HA in the browser, after a full update of the simulator: the networks
// page lists the simulator's zones, VNets and subnets, each subnet with its NetBox prefix
// and that prefix's utilisation; the VM panel and the guest list show HA states.
import { test, expect, APIRequestContext } from "@playwright/test";
import { connectPeers, fullUpdate, login, requireNetbox, watchConsole } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

type Sdn = {
  sdn: {
    zones: { zone: string; kind: string }[];
    vnets: { vnet: string; zone: string }[];
    subnets: { vnet: string; cidr: string; gateway: string | null }[];
  };
  ha: { sid: string; state: string; group: string | null }[];
};

async function simSdn(request: APIRequestContext): Promise<Sdn> {
  const answer = await request.get(`${process.env.PVE_SIM_URL}/_sim/sdn`);
  expect(answer.ok()).toBeTruthy();
  return answer.json();
}

test("the networks page shows the simulator's zones and subnets with their prefixes' utilisation", async ({ page, request }, testInfo) => {
  test.setTimeout(240_000);
  const errors = watchConsole(page);
  await login(page);
  await connectPeers(page);
  await fullUpdate(page);
  const { sdn } = await simSdn(request);

  await page.goto("/networks");
  const section = page.getByTestId("endpoint-networks").first();
  for (const zone of sdn.zones) {
    await expect(section.locator(`[data-testid="sdn-zones"] tr[data-zone="${zone.zone}"]`)).toContainText(zone.kind);
  }
  for (const vnet of sdn.vnets) {
    await expect(section.locator(`[data-testid="sdn-vnets"] tr[data-vnet="${vnet.vnet}"]`)).toContainText(vnet.zone);
  }
  for (const subnet of sdn.subnets) {
    const row = section.locator(`[data-testid="sdn-subnets"] tr[data-subnet="${subnet.cidr}"]`);
    await expect(row).toContainText(subnet.vnet);
    await expect(row.getByTestId("prefix-link")).toHaveAttribute("href", /\/ipam\/prefixes\/\d+\/$/);
    // Nothing but its gateway sits in a subnet: one address of the 254 NetBox counts
    // in a /24 (network and broadcast left out).
    const used = subnet.gateway ? (100 / 254).toFixed(1) : "0.0";
    await expect(row.getByTestId("utilisation")).toContainText(`${used} % used`);
  }
  await page.screenshot({ path: testInfo.outputPath("networks.png"), fullPage: true });
  expect(errors).toEqual([]);
});

test("the VM panel and the guest list show each guest's HA state", async ({ page, request }) => {
  await login(page);
  const { ha } = await simSdn(request);
  const resource = ha.find((r) => r.sid.startsWith("vm:") && r.group !== null)!;
  expect(resource, "the simulator has a VM under HA with a group").toBeTruthy();
  const vmid = resource.sid.split(":")[1];

  await page.goto("/virtual-machines?ha=managed");
  const rows = page.getByTestId("guest-row");
  await expect(rows).toHaveCount(ha.length);
  const row = page.locator(`[data-testid="guest-row"][data-vmid="${vmid}"]`);
  await row.getByRole("link").first().click();
  await expect(page).toHaveURL(/\/virtual-machines\/\d+$/);
  await expect(page.getByTestId("card-ha")).toHaveText(`${resource.state}, group ${resource.group}`);
});
