// What the browser tests share: the settings tests/e2e/src/browser.rs passes, Debian's chromium
// launched headless through playwright-core, numbered screenshots, and the steps every script
// takes (signing up and out, filling in the test card). Each script is its own node process, so
// the state here (the screenshot count, the problems seen) is that script's.
//   BASE_URL   the storefront, e.g. http://127.0.0.1:8080
//   ARTIFACTS  the folder for screenshots

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const base = process.env.BASE_URL;
export const artifacts = process.env.ARTIFACTS;
if (!base || !artifacts) {
  console.error("BASE_URL and ARTIFACTS must be set");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

export const timeout = 15_000;
/** Tells this run's users and listings from those of earlier runs against the same stack. */
export const unique = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

let shot = 0;
/** Saves a numbered full-page screenshot named `name`; its path. */
export async function screenshot(page, name) {
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** The text of the page's alert box, once it shows. */
export async function alertText(page) {
  const alert = page.getByRole("alert");
  await alert.waitFor({ timeout });
  return alert.innerText();
}

/** Signs `who` up through the form (a screenshot of it if `shoot`), landing on the home page. */
export async function signUp(page, who, { shoot = false } = {}) {
  await page.goto(`${base}/auth/signup`);
  await page.getByLabel("Email Address").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  if (shoot) await screenshot(page, "sign-up");
  await page.getByRole("button", { name: "Sign Up" }).click();
  await page.waitForURL(`${base}/`, { timeout });
  await page.getByRole("link", { name: "Sign Out" }).waitFor({ timeout });
}

export async function signOut(page) {
  await page.getByRole("link", { name: "Sign Out" }).click();
  await page.getByRole("link", { name: "Sign In" }).waitFor({ timeout });
  expect(new URL(page.url()).pathname === "/", "signing out should land on /");
}

/** Fills the order page's card form with a localstripe test card, without paying yet. */
export async function fillCard(page, number = "4242424242424242") {
  await page.getByPlaceholder("number", { exact: true }).waitFor({ timeout });
  await page.getByPlaceholder("number", { exact: true }).fill(number);
  await page.getByPlaceholder("exp_month").fill("12");
  await page.getByPlaceholder("exp_year").fill("34");
  await page.getByPlaceholder("cvc").fill("123");
  await page.getByPlaceholder("postal_code").fill("42424");
}

/** Pays the open order with the test card, landing on My Orders. */
export async function pay(page) {
  await fillCard(page);
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL(`${base}/orders`, { timeout });
}

const problems = [];
/** Collects `page`'s script errors and console errors: a script passes only without any. */
export function watch(page) {
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().includes("Failed to load resource")) {
      problems.push(`console error: ${message.text()}`);
    }
  });
}

/**
 * Runs `script(browser, step)` in a new headless chromium: `step(description)` names what the
 * script does next, so that a failure names the step it failed at. The run fails (exit code 1)
 * on an exception or on any problem `watch` saw.
 */
export async function run(name, script) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  let current = "start";
  const step = (description) => {
    current = description;
  };
  try {
    await script(browser, step);
    step("no errors in the console");
    expect(problems.length === 0, problems.join("\n"));
    console.log(`${name}: every step passed; screenshots in ${artifacts}`);
  } catch (error) {
    console.error(`${name}: failed at "${current}": ${error.message}`);
    for (const problem of problems) console.error(`  ${problem}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
