// E-tickets in a real browser: a seller lists an event with its venue and start, a buyer buys and
// pays, opens the pass, and the QR code in a screenshot of it decodes (Debian's zbarimg) to a code the
// seller's check-in page admits once: "Welcome", then "Already checked in at HH:MM". The buyer then
// resells the other ticket; once a third person has bought it, its old code is "Pass revoked" and the
// new buyer's pass is welcome. Run by tests/e2e/tests/browser_passes.rs, which starts the stack and
// passes BASE_URL and ARTIFACTS (steps.mjs).
// Exits non-zero, naming the step, when the storefront does not behave.

import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { artifacts, base, expect, pay, run, screenshot, signUp, timeout, unique, watch } from "./steps.mjs";

const seller = { email: `organiser-${unique}@example.com`, password: "correct horse battery" };
const buyer = { email: `fan-${unique}@example.com`, password: "another good password" };
const reseller = { email: `second-${unique}@example.com`, password: "a third good password" };
const title = `Pass Concert ${unique}`;
const venue = "Paradiso, Amsterdam";
// The browsers run on Amsterdam's clock: 19:30 there on 1 June (summer time) is 17:30 UTC.
const zone = "Europe/Amsterdam";
const startsLocal = "2030-06-01T19:30";
const startsUtc = "2030-06-01T17:30:00Z";

/// Opens a pass's printable page from My tickets and reads its QR code back out of a screenshot.
async function decodePass(page, name, file) {
  await page.goto(`${base}/passes`);
  const card = page.getByRole("article", { name });
  await card.waitFor({ timeout: 30_000 });
  await card.getByRole("link", { name: "Show and print" }).click();
  await page.waitForURL(/\/passes\/[^/]+$/, { timeout });
  const qr = page.locator(".qr.large");
  await qr.waitFor({ timeout });
  const printed = (await page.locator("p.code").innerText()).replace(/^Code\s*/, "").trim();
  await qr.screenshot({ path: join(artifacts, file) });
  const decoded = execFileSync("zbarimg", ["--quiet", "--raw", "--nodbus", join(artifacts, file)], {
    encoding: "utf8",
  }).trim();
  expect(decoded.length > 0 && decoded.length <= 200, `a code of 1 to 200 characters, decoded: "${decoded}"`);
  expect(decoded === printed, `the QR code reads "${decoded}", the page prints "${printed}"`);
  return decoded;
}

/// Types a code into the check-in page as a scanner would, and gives the large answer's text.
async function scan(page, code) {
  const field = page.getByLabel("Pass code");
  await field.fill(code);
  const answered = page.waitForResponse(
    (response) => response.url().endsWith("/api/checkins") && response.request().method() === "POST",
    { timeout },
  );
  await field.press("Enter");
  await answered;
  // "Checking…" stands in from the press until the answer, so the earlier scan's words are gone.
  const verdict = page.locator(".verdict").filter({ hasNotText: "Checking" });
  await verdict.waitFor({ timeout });
  const text = await verdict.innerText();
  expect((await field.inputValue()) === "", "the code field should be empty, ready for the next pass");
  return text;
}

await run("passes", async (browser, step) => {
  // Two people, two browsers' worth of cookies.
  const options = { viewport: { width: 1024, height: 720 }, timezoneId: zone };
  const organiser = await (await browser.newContext(options)).newPage();
  const fan = await (await browser.newContext(options)).newPage();
  watch(organiser);
  watch(fan);

  step("the seller lists 2 tickets with the venue and the start on their own clock");
  await signUp(organiser, seller);
  await organiser.getByRole("link", { name: "Sell Tickets" }).click();
  await organiser.getByLabel("Title").fill(title);
  await organiser.getByLabel("Price").fill("5");
  await organiser.getByLabel("Quantity").fill("2");
  await organiser.getByLabel("Venue").fill(venue);
  const startsLabel = await organiser.locator("label[for=startsAt]").innerText();
  expect(startsLabel.includes(zone), `the start's label should name the time zone: ${startsLabel}`);
  await organiser.getByLabel(/^Starts at/).fill(startsLocal);
  await screenshot(organiser, "sell-with-event");
  await organiser.getByRole("button", { name: "Submit" }).click();
  await organiser.waitForURL(/\/tickets\/[^/]+$/, { timeout });
  await organiser.getByRole("heading", { name: title }).waitFor({ timeout });
  const ticketId = new URL(organiser.url()).pathname.split("/").pop();
  const listed = await (await organiser.request.get(`${base}/api/tickets/${ticketId}`)).json();
  expect(listed.venue === venue, `the listing's venue: ${listed.venue}`);
  expect(listed.startsAt === startsUtc, `the listing's start should be ${startsUtc}, is ${listed.startsAt}`);
  await organiser.getByText(venue).waitFor({ timeout });
  await organiser.getByText("2030-06-01 19:30").waitFor({ timeout });
  await screenshot(organiser, "listing-with-event");

  step("a buyer buys both tickets; the order page names the venue");
  await signUp(fan, buyer);
  await fan.goto(`${base}/tickets/${ticketId}`);
  await fan.getByLabel("Quantity").fill("2");
  await fan.getByRole("button", { name: "Purchase" }).click();
  await fan.waitForURL(/\/orders\/[^/]+$/, { timeout });
  await fan.getByText(venue).waitFor({ timeout });

  step("the buyer pays with a test card");
  await pay(fan);
  await fan.getByRole("row").filter({ hasText: title }).getByText("complete")
    .waitFor({ timeout: 30_000 });

  step("My tickets shows both passes with their QR codes, seat n of 2, venue, start and status");
  await fan.getByRole("link", { name: "My Tickets" }).click();
  await fan.waitForURL(`${base}/passes`, { timeout });
  const cards = fan.locator("article.pass").filter({ hasText: title });
  await cards.nth(1).waitFor({ timeout: 30_000 });
  expect((await cards.count()) === 2, `2 passes, saw ${await cards.count()}`);
  for (const seat of [1, 2]) {
    const card = fan.getByRole("article", { name: `${title} (seat ${seat} of 2)` });
    const text = await card.innerText();
    for (const fact of [venue, "2030-06-01 19:30", `${seat} of 2`, "valid", "Sell this ticket"]) {
      expect(text.includes(fact), `pass ${seat} should show "${fact}": ${text}`);
    }
    expect(await card.locator(".qr svg").isVisible(), `pass ${seat} should show its QR code`);
  }
  await screenshot(fan, "my-tickets");

  step("the printable pass shows a large QR code and hides the header when printed");
  const first = fan.getByRole("article", { name: `${title} (seat 1 of 2)` });
  await first.getByRole("link", { name: "Show and print" }).click();
  await fan.waitForURL(/\/passes\/[^/]+$/, { timeout });
  const qr = fan.locator(".qr.large");
  await qr.waitFor({ timeout });
  const printed = (await fan.locator("p.code").innerText()).replace(/^Code\s*/, "").trim();
  await screenshot(fan, "pass");
  await fan.emulateMedia({ media: "print" });
  expect(!(await fan.locator("header.site").isVisible()), "the header should not print");
  expect(!(await fan.getByRole("button", { name: "Print" }).isVisible()), "the Print button should not print");
  await screenshot(fan, "pass-printed");
  await fan.emulateMedia({ media: "screen" });

  step("the QR code in a screenshot of the pass decodes (zbarimg) to the pass's code");
  const qrFile = join(artifacts, "qr-code.png");
  await qr.screenshot({ path: qrFile });
  const decoded = execFileSync("zbarimg", ["--quiet", "--raw", "--nodbus", qrFile], { encoding: "utf8" }).trim();
  expect(decoded.length > 0 && decoded.length <= 200, `a code of 1 to 200 characters, decoded: "${decoded}"`);
  expect(decoded === printed, `the QR code reads "${decoded}", the page prints "${printed}"`);

  step("someone who is not the organiser is told it is not their event");
  await fan.getByRole("link", { name: "Check-in" }).click();
  await fan.waitForURL(`${base}/checkin`, { timeout });
  const notYours = await scan(fan, decoded);
  expect(notYours === "Not your event", `expected "Not your event", saw "${notYours}"`);

  step("the organiser checks the decoded code in: Welcome");
  await organiser.getByRole("link", { name: "Check-in" }).click();
  await organiser.waitForURL(`${base}/checkin`, { timeout });
  const welcome = await scan(organiser, decoded);
  expect(welcome === "Welcome", `expected "Welcome", saw "${welcome}"`);
  const who = await organiser.locator(".verdict-detail").innerText();
  expect(who.includes(title) && who.includes("seat 1 of 2"), `the welcome should name the pass: ${who}`);
  await screenshot(organiser, "check-in-welcome");

  step("the same code again: Already checked in at HH:MM");
  const again = await scan(organiser, decoded);
  expect(/^Already checked in at \d\d:\d\d$/.test(again), `expected "Already checked in at HH:MM", saw "${again}"`);
  await screenshot(organiser, "check-in-again");

  step("a forged code: Invalid code");
  const last = decoded.at(-1) === "A" ? "B" : "A";
  const forged = await scan(organiser, decoded.slice(0, -1) + last);
  expect(forged === "Invalid code", `expected "Invalid code", saw "${forged}"`);

  step("My tickets shows the first pass checked in, and a phone-width screen still reads");
  await fan.setViewportSize({ width: 375, height: 740 });
  await fan.goto(`${base}/passes`);
  const checked = fan.getByRole("article", { name: `${title} (seat 1 of 2)` });
  await checked.getByText(/checked in at \d\d:\d\d/).waitFor({ timeout });
  expect((await checked.getByRole("button", { name: "Sell this ticket" }).count()) === 0,
    "a pass that was used cannot be sold");
  await screenshot(fan, "my-tickets-phone");
  await organiser.setViewportSize({ width: 375, height: 740 });
  await screenshot(organiser, "check-in-phone");
  await fan.setViewportSize({ width: 1024, height: 720 });

  step("the buyer resells seat 2: above the price paid is refused, at it the listing is made");
  const oldCode = await decodePass(fan, `${title} (seat 2 of 2)`, "qr-code-resold.png");
  await fan.goto(`${base}/passes`);
  const second = fan.getByRole("article", { name: `${title} (seat 2 of 2)` });
  await second.getByRole("button", { name: "Sell this ticket" }).click();
  const resalePrice = second.getByLabel("Price (at most $5.00)");
  await resalePrice.fill("6");
  await second.getByRole("button", { name: "List for sale" }).click();
  const refused = await second.getByRole("alert").innerText();
  expect(refused.includes("Resale price must be at most the original price"), `the cap's message: ${refused}`);
  await screenshot(fan, "resale-refused");
  await resalePrice.fill("5");
  await second.getByRole("button", { name: "List for sale" }).click();
  await second.getByText("On sale again for $5.00").waitFor({ timeout });
  await screenshot(fan, "resale-listed");
  await second.getByRole("link", { name: "View the listing" }).click();
  await fan.waitForURL(/\/tickets\/[^/]+$/, { timeout });
  const resale = fan.url();
  await fan.getByText(venue).waitFor({ timeout });

  step("a third person buys the resold ticket and pays");
  const newcomer = await (await browser.newContext(options)).newPage();
  watch(newcomer);
  await signUp(newcomer, reseller);
  await newcomer.goto(resale);
  await newcomer.getByRole("button", { name: "Purchase" }).click();
  await newcomer.waitForURL(/\/orders\/[^/]+$/, { timeout });
  await pay(newcomer);
  await newcomer.getByRole("row").filter({ hasText: title }).getByText("complete")
    .waitFor({ timeout: 30_000 });

  step("the resold pass shows revoked to the first buyer");
  for (let tries = 0; ; tries += 1) {
    await fan.goto(`${base}/passes`);
    const card = fan.getByRole("article", { name: `${title} (seat 2 of 2)` });
    await card.waitFor({ timeout });
    if ((await card.innerText()).includes("revoked")) break;
    expect(tries < 30, "seat 2 should be revoked once the resale is paid");
    await fan.waitForTimeout(1_000);
  }
  await screenshot(fan, "my-tickets-resold");

  step("the old code is refused at the door: Pass revoked");
  await organiser.setViewportSize({ width: 1024, height: 720 });
  const revoked = await scan(organiser, oldCode);
  expect(revoked === "Pass revoked", `expected "Pass revoked", saw "${revoked}"`);
  await screenshot(organiser, "check-in-revoked");

  step("the new buyer's pass has a new code, and it is welcome");
  const newCode = await decodePass(newcomer, `${title} (seat 1 of 1)`, "qr-code-new.png");
  expect(newCode !== oldCode, "a resold pass gets a new code");
  const admitted = await scan(organiser, newCode);
  expect(admitted === "Welcome", `expected "Welcome" for the new pass, saw "${admitted}"`);

});
