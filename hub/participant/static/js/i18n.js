// Dutch (default) and English texts. Elements carry their key in data-i18n (attributes in
// data-i18n-attr="aria-label:key"), so switching language re-labels the page and keeps what was typed.

const STRINGS = {
  nl: {
    "app.title": "Mijn {network}",
    "app.skip": "Naar de inhoud",
    "lang.switch": "English",
    "lang.switch_label": "Switch to English",
    "signup.title": "Aanmelden als deelnemer",
    "signup.intro": "U krijgt een link per e-mail. Een wachtwoord is niet nodig.",
    "signup.email": "E-mailadres",
    "signup.age": "Ik ben 16 jaar of ouder",
    "signup.language": "Taal van de berichten",
    "signup.submit": "Stuur mij een link",
    "signin.title": "Al deelnemer? Inloggen",
    "signin.submit": "Stuur mij een inloglink",
    "sent": "Als dit adres gebruikt kan worden, is er een link onderweg. Kijk in uw e-mail; de link werkt één keer.",
    "link.busy": "Link wordt gecontroleerd…",
    "link.confirmed": "Uw e-mailadres is bevestigd.",
    "link.signed_in": "U bent ingelogd.",
    "signout": "Uitloggen",
    "contacts.title": "Telefoon en e-mail",
    "contacts.intro": "Alleen bevestigde nummers en adressen krijgen berichten.",
    "contacts.email": "E-mail",
    "contacts.verified": "bevestigd",
    "contacts.unverified": "niet bevestigd",
    "contacts.send_link": "Stuur bevestigingslink",
    "contacts.add_phone": "Telefoonnummer toevoegen",
    "contacts.phone": "Telefoonnummer",
    "contacts.add": "Toevoegen",
    "contacts.remove": "Verwijder {number}",
    "contacts.send_code": "Stuur code",
    "contacts.code_for": "Code voor {number}",
    "contacts.confirm": "Bevestig",
    "contacts.code_sent_sms": "Er is een code per sms gestuurd naar {number}.",
    "contacts.code_sent_voice": "U wordt gebeld op {number}; de code wordt voorgelezen.",
    "contacts.phone_ok": "{number} is bevestigd.",
    "contacts.link_sent": "Er is een bevestigingslink gestuurd naar {email}.",
    "contacts.uses_hint": "Sms'jes gaan naar het eerste bevestigde nummer met Sms aangevinkt, telefoontjes naar het eerste met Bellen (een mobiel nummer vóór een vaste lijn).",
    "contacts.uses_for": "Gebruik {number} voor",
    "contacts.use_sms": "Sms",
    "contacts.use_voice": "Bellen",
    "contacts.landline_no_sms": "Een vast nummer kan geen sms ontvangen.",
    "contacts.save_uses": "Bewaar keuze voor {number}",
    "addresses.title": "Adressen",
    "addresses.intro": "Waar wilt u berichten voor krijgen? Kies op de kaart, met coördinaten of met een plaatsnaam.",
    "addresses.none": "Nog geen adres. Voeg er een toe om berichten te krijgen.",
    "addresses.label": "Soort",
    "label.home": "Thuis",
    "label.work": "Werk",
    "label.other": "Anders",
    "addresses.place": "Plaats",
    "addresses.coordinates": "Coördinaten (breedte, lengte)",
    "addresses.use": "Gebruik",
    "addresses.map": "Kaart: klik om een plek te kiezen",
    "addresses.chosen": "Gekozen: {lat}, {lon}",
    "addresses.bad": "Niet herkend: typ bijv. 52.09, 5.11 of kies een plaats uit de lijst.",
    "addresses.days": "Dagen (leeg: altijd)",
    "addresses.from": "Van",
    "addresses.to": "Tot",
    "addresses.add": "Adres toevoegen",
    "addresses.remove": "Verwijder adres {n}",
    "addresses.always": "altijd",
    "day.mon": "ma", "day.tue": "di", "day.wed": "wo", "day.thu": "do", "day.fri": "vr", "day.sat": "za", "day.sun": "zo",
    "prefs.title": "Voorkeuren",
    "prefs.channels": "Hoe wilt u berichten krijgen?",
    "channel.app": "App (meldingen op dit toestel)",
    "channel.sms": "Sms (mobiel nummer)",
    "channel.voice": "Telefoontje (ook vaste lijn)",
    "channel.email": "E-mail",
    "prefs.needs_contact": "Werkt pas als u hiervoor een nummer of adres hebt bevestigd.",
    "prefs.quiet": "Niet storen (sms, bellen en app)",
    "prefs.quiet_from": "Van",
    "prefs.quiet_to": "Tot",
    "prefs.pause": "Pauze tot en met",
    "prefs.pause_hint": "Bijvoorbeeld tijdens uw vakantie. Leeg: geen pauze.",
    "prefs.cap": "Hoogstens zoveel acties per week",
    "prefs.cap_hint": "Leeg: geen grens.",
    "prefs.language": "Taal",
    "prefs.save": "Opslaan",
    "prefs.saved": "Opgeslagen.",
    "actions.title": "Acties die mij bereikten",
    "actions.none": "Nog geen acties.",
    "actions.active": "loopt nog",
    "result.found": "gevonden",
    "result.arrested": "aangehouden",
    "result.ended_without_result": "beëindigd zonder resultaat",
    "result.cancelled": "ingetrokken",
    "data.title": "Mijn gegevens",
    "data.download": "Download al mijn gegevens (JSON)",
    "data.erase": "Verwijder mij als deelnemer",
    "data.erase_confirm": "Weet u het zeker? Al uw gegevens worden nu verwijderd. Dit kan niet ongedaan worden gemaakt.",
    "data.erased": "U bent verwijderd. Bedankt voor uw deelname.",
    "app.section": "De app op dit toestel",
    "app.intro": "Installeer deze pagina als app en zet meldingen aan. Uw toestel bepaalt zelf of een actie in de buurt is; uw locatie verlaat het toestel niet.",
    "app.enable": "Meldingen aanzetten",
    "app.enabled": "Meldingen staan aan voor dit toestel.",
    "app.page_only": "Meldingen staan aan, maar deze browser heeft geen pushdienst: meldingen komen binnen zolang deze pagina open is.",
    "app.unavailable": "Meldingen zijn op deze hub of in deze browser niet beschikbaar.",
    "app.alerts": "Ontvangen meldingen",
    "app.no_alerts": "Nog geen meldingen op dit toestel.",
    "app.outside": "buiten uw buurt, niet getoond",
    "tip.text": "Wat zag u?",
    "tip.photo": "Foto (optioneel)",
    "tip.send": "Tip versturen",
    "tip.sent": "Bedankt, uw tip is verstuurd.",
    "tip.call": "Of bel gratis {number}.",
    "error": "Dat lukte niet: {reason}",
    "error.field": "{field}: {reason}",
    "error.rate": "Te vaak geprobeerd. Probeer het over {minutes} minuten opnieuw.",
    "offline": "U bent offline. U ziet wat dit toestel al ontving.",
  },
  en: {
    "app.title": "My {network}",
    "app.skip": "Skip to content",
    "lang.switch": "Nederlands",
    "lang.switch_label": "Schakel naar Nederlands",
    "signup.title": "Sign up as a participant",
    "signup.intro": "You get a link by e-mail. No password needed.",
    "signup.email": "E-mail address",
    "signup.age": "I am 16 or older",
    "signup.language": "Language of the messages",
    "signup.submit": "Send me a link",
    "signin.title": "Already a participant? Sign in",
    "signin.submit": "Send me a sign-in link",
    "sent": "If this address can be used, a link is on its way. Check your e-mail; the link works once.",
    "link.busy": "Checking the link…",
    "link.confirmed": "Your e-mail address is confirmed.",
    "link.signed_in": "You are signed in.",
    "signout": "Sign out",
    "contacts.title": "Phone and e-mail",
    "contacts.intro": "Only confirmed numbers and addresses get messages.",
    "contacts.email": "E-mail",
    "contacts.verified": "confirmed",
    "contacts.unverified": "not confirmed",
    "contacts.send_link": "Send confirmation link",
    "contacts.add_phone": "Add a phone number",
    "contacts.phone": "Phone number",
    "contacts.add": "Add",
    "contacts.remove": "Remove {number}",
    "contacts.send_code": "Send code",
    "contacts.code_for": "Code for {number}",
    "contacts.confirm": "Confirm",
    "contacts.code_sent_sms": "A code was sent by SMS to {number}.",
    "contacts.code_sent_voice": "You will be called on {number}; the code is read out.",
    "contacts.phone_ok": "{number} is confirmed.",
    "contacts.link_sent": "A confirmation link was sent to {email}.",
    "contacts.uses_hint": "Texts go to the first confirmed number with SMS ticked, calls to the first with Calls ticked (a mobile number before a landline).",
    "contacts.uses_for": "Use {number} for",
    "contacts.use_sms": "SMS",
    "contacts.use_voice": "Calls",
    "contacts.landline_no_sms": "A landline cannot receive SMS.",
    "contacts.save_uses": "Save choice for {number}",
    "addresses.title": "Addresses",
    "addresses.intro": "Where do you want messages for? Choose on the map, by coordinates or by a place name.",
    "addresses.none": "No address yet. Add one to get messages.",
    "addresses.label": "Kind",
    "label.home": "Home",
    "label.work": "Work",
    "label.other": "Other",
    "addresses.place": "Place",
    "addresses.coordinates": "Coordinates (latitude, longitude)",
    "addresses.use": "Use",
    "addresses.map": "Map: click to choose a spot",
    "addresses.chosen": "Chosen: {lat}, {lon}",
    "addresses.bad": "Not recognised: type e.g. 52.09, 5.11 or choose a place from the list.",
    "addresses.days": "Days (none: always)",
    "addresses.from": "From",
    "addresses.to": "Until",
    "addresses.add": "Add address",
    "addresses.remove": "Remove address {n}",
    "addresses.always": "always",
    "day.mon": "Mon", "day.tue": "Tue", "day.wed": "Wed", "day.thu": "Thu", "day.fri": "Fri", "day.sat": "Sat", "day.sun": "Sun",
    "prefs.title": "Preferences",
    "prefs.channels": "How do you want to get messages?",
    "channel.app": "App (notifications on this device)",
    "channel.sms": "SMS (mobile number)",
    "channel.voice": "Phone call (landlines too)",
    "channel.email": "E-mail",
    "prefs.needs_contact": "Works only once you confirmed a number or address for it.",
    "prefs.quiet": "Do not disturb (SMS, calls and app)",
    "prefs.quiet_from": "From",
    "prefs.quiet_to": "Until",
    "prefs.pause": "Pause until",
    "prefs.pause_hint": "For instance during your holiday. Empty: no pause.",
    "prefs.cap": "At most this many actions a week",
    "prefs.cap_hint": "Empty: no limit.",
    "prefs.language": "Language",
    "prefs.save": "Save",
    "prefs.saved": "Saved.",
    "actions.title": "Actions that reached me",
    "actions.none": "No actions yet.",
    "actions.active": "still running",
    "result.found": "found",
    "result.arrested": "arrested",
    "result.ended_without_result": "ended without result",
    "result.cancelled": "cancelled",
    "data.title": "My data",
    "data.download": "Download all my data (JSON)",
    "data.erase": "Erase me as a participant",
    "data.erase_confirm": "Are you sure? All your data is erased now. This cannot be undone.",
    "data.erased": "You have been erased. Thank you for taking part.",
    "app.section": "The app on this device",
    "app.intro": "Install this page as an app and turn notifications on. Your device decides itself whether an action is nearby; your location never leaves the device.",
    "app.enable": "Turn notifications on",
    "app.enabled": "Notifications are on for this device.",
    "app.page_only": "Notifications are on, but this browser has no push service: alerts arrive while this page is open.",
    "app.unavailable": "Notifications are not available on this hub or in this browser.",
    "app.alerts": "Alerts received",
    "app.no_alerts": "No alerts on this device yet.",
    "app.outside": "outside your area, not shown",
    "tip.text": "What did you see?",
    "tip.photo": "Photo (optional)",
    "tip.send": "Send tip",
    "tip.sent": "Thank you, your tip was sent.",
    "tip.call": "Or call {number} free of charge.",
    "error": "That did not work: {reason}",
    "error.field": "{field}: {reason}",
    "error.rate": "Too many tries. Try again in {minutes} minutes.",
    "offline": "You are offline. You see what this device already received.",
  },
};

let lang = "nl";
const globals = {};

export function setGlobals(vars) {
  Object.assign(globals, vars);
}

export function language() {
  return lang;
}

export function t(key, vars = {}) {
  const table = STRINGS[lang] || STRINGS.nl;
  const text = table[key] ?? STRINGS.nl[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? globals[name] ?? `{${name}}`));
}

// Give an element a translatable text (kept across language switches).
export function tx(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
  return el;
}

export function setLanguage(next) {
  lang = STRINGS[next] ? next : "nl";
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n, el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined);
  }
  for (const el of document.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key));
    }
  }
  document.title = t("app.title");
  const switcher = document.getElementById("lang");
  if (switcher) switcher.lang = lang === "nl" ? "en" : "nl"; // the button names the other language
}

export function initialLanguage() {
  const saved = localStorage.getItem("burgerhub.lang");
  if (saved && STRINGS[saved]) return saved;
  return "nl";
}
