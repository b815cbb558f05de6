// Package parse turns Qoo10 notification mails into order events.
//
// A mail goes through five stages, in this order:
//
//   - decode (decodeMail; mime.go, header.go, charset.go, jis.go,
//     flowed.go, html.go): the raw bytes become a mailText, its header
//     fields, its text part and its HTML part (rendered as text) in UTF-8,
//     within the limits of Options.MaxParts and Options.MaxDepth.
//   - unwrap (interpret's unwrap; forward.go): a mail forwarded by hand,
//     inline or attached, gives way to the mail it forwards. Each
//     rendering (text, HTML) is read on its own, and the one that yields
//     the most order data is kept.
//   - read (readTemplate, readLabels; match.go, fallback.go): the template
//     that fits the body best is matched line by line, or, when none fits,
//     the fallback reads the lines by their labels. Templates are tried
//     only in mail that names Qoo10 (mentionsQoo10), unless operators
//     added their own templates or rules.
//   - build (buildFromTemplate; builder.go, normalize.go, value.go): the
//     values become the typed fields of event.Order (amounts, dates,
//     people, items), and the lines read become Order.Fields, in mail
//     order.
//   - classify (classifyRendering; classify.go, expect.go): the event
//     type, from operator rules, the template's type or Qoo10's wording;
//     what an order event of that type lacks becomes a problem, and an
//     order event without any order data is reported as unrecognized.
//
// Parse runs them all; Decode stops after unwrap, to show operators the
// text the later stages read.
package parse
