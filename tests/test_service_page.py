"""The page at / in a real headless browser (Debian's chromium and
chromium-driver, driven by Selenium): rate three catalogue items, see the
top 10 change after each, open an explanation, add an item and see where
it lands. Skipped, with the reason printed, where no browser is installed
(`apt-get install -y chromium chromium-driver`)."""

import os
import shutil
import tempfile

import pytest

from service_helpers import ThreadServer, train_tiny

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
MISSING = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
if MISSING:
  print(f"test_service_page: skipped, no browser ({', '.join(MISSING)} "
        "missing): apt-get install -y chromium chromium-driver")
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"no browser: {MISSING} missing; apt-get install "
    "-y chromium chromium-driver")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  workdir = train_tiny(tmp_path_factory)
  db = str(tmp_path_factory.mktemp("db") / "events.sqlite")
  with ThreadServer(workdir, db) as s:
    yield s


@pytest.fixture(scope="module")
def browser():
  os.environ["SE_OFFLINE"] = "true"  # Selenium never downloads a driver.
  from selenium import webdriver  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.chrome.service import Service
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  profile = tempfile.mkdtemp(prefix="metarec_chromium_")
  for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--no-first-run", f"--user-data-dir={profile}",
              "--window-size=1200,1000"):
    options.add_argument(arg)
  driver = webdriver.Chrome(service=Service(DRIVER), options=options)
  driver.set_page_load_timeout(60)
  try:
    yield driver
  finally:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, what: str, timeout: float = 60):
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel
  return WebDriverWait(driver, timeout).until(
      lambda d: condition(d), message=f"timed out waiting for {what}")


def _top10(driver) -> list:
  """[(item id, raw score)] as the page shows them."""
  return [(li.get_attribute("data-item-id"), li.get_attribute("data-raw"))
          for li in driver.find_elements("css selector", "#recs > li")]


def test_rate_three_items_see_the_list_change_and_why(server, browser,
                                                      tmp_path):
  by = "css selector"
  browser.get(f"http://127.0.0.1:{server.port}/")
  _wait(browser, lambda d: len(_top10(d)) == 10, "the first top 10")
  _wait(browser, lambda d: len(d.find_elements(by, "#results li.result")) >= 3,
        "catalogue items")
  user = browser.find_element(by, "#user").text
  before = _top10(browser)
  for n in range(3):
    item = browser.find_elements(by, "#results li.result")[n]
    title = item.text.splitlines()[0]
    item.find_element(by, "button[data-rating='5']").click()
    _wait(browser, lambda d, n=n: len(d.find_elements(by, "#rated li"))
          == n + 1, f"rating {n + 1} saved")
    _wait(browser, lambda d, b=before: _top10(d) != b and len(_top10(d)) == 10,
          f"the top 10 to change after rating {n + 1}")
    assert title.split(" ")[0] in browser.find_element(by, "#status").text
    before = _top10(browser)
  stored = server.service.ratings_of(user)
  assert [r["rating"] for r in stored] == [5.0, 5.0, 5.0]
  assert not {str(r["item_id"]) for r in stored} & {
      i for i, _ in _top10(browser)}
  why = browser.find_element(by, "#recs > li details.why")
  why.find_element(by, "summary").click()
  _wait(browser, lambda d: why.get_attribute("open") is not None,
        "the explanation to open")
  lines = [li.text for li in why.find_elements(by, "li")]
  assert sum(line.startswith("without your rating 5 of item") for line in
             lines) == 3, lines
  browser.find_element(by, "#new-id").send_keys("5000")
  browser.find_element(by, "#new-title").send_keys("A film made today")
  browser.find_elements(by, "#genres input.genre")[0].click()
  browser.find_element(by, "#add-item").click()
  _wait(browser, lambda d: "new item 5000" in d.find_element(
      by, "#status").text, "the new item's rank")
  assert server.service.items.describe(
      server.service.items.rows["5000"])["title"] == "A film made today"
  browser.save_screenshot(str(tmp_path / "page.png"))
