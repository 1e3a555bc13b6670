package catalog

import "fmt"

// Default returns the built-in catalogue: US electric and gas distribution
// utilities plus the "gridlink Sandbox". It builds a fresh value on every
// call.
func Default() *Catalog {
	c, err := build(defaults())
	if err != nil {
		// The table below is fixed at compile time and covered by tests.
		panic(fmt.Sprintf("catalog: built-in table is invalid: %v", err))
	}
	return c
}

// defaults is the permanent table. Rules:
//   - ids are literals, assigned in order; a new utility takes the next id
//     after the highest one below and is appended at the end;
//   - never renumber, reuse or delete an id (a utility that goes away keeps
//     its row, e.g. with no connector);
//   - slugs are permanent too (they are accepted as utility_slug).
//
// Only PG&E (through Pelm's sandbox login), the gridlink Sandbox and Demo
// Power & Light (the demo utility website) have a connector for now; every
// other utility is listed so that users can find it, and is reported
// unsupported.
func defaults() []def {
	return []def{
		{1, "pge", "Pacific Gas and Electric", ConnectorPelmSandbox, []string{"PG&E", "PGE", "Pacific Gas & Electric"}},
		{2, "sce", "Southern California Edison", "", []string{"SCE", "Edison", "SoCal Edison"}},
		{3, "sdge", "San Diego Gas & Electric", "", []string{"SDG&E", "SDGE", "San Diego Gas and Electric"}},
		{4, "socalgas", "Southern California Gas Company", "", []string{"SoCalGas", "The Gas Company", "SoCal Gas"}},
		{5, "smud", "Sacramento Municipal Utility District", "", []string{"SMUD"}},
		{6, "ladwp", "Los Angeles Department of Water and Power", "", []string{"LADWP", "DWP", "LA DWP"}},
		{7, "coned", "Con Edison", "", []string{"Con Ed", "ConEd", "Consolidated Edison", "ConEdison"}},
		{8, "orange-rockland", "Orange and Rockland Utilities", "", []string{"O&R", "ORU", "Orange & Rockland"}},
		{9, "national-grid-ny", "National Grid (New York)", "", []string{"National Grid", "NGrid", "Niagara Mohawk", "KeySpan"}},
		{10, "national-grid-ma", "National Grid (Massachusetts)", "", []string{"National Grid", "NGrid", "Massachusetts Electric"}},
		{11, "nyseg", "New York State Electric & Gas", "", []string{"NYSEG", "NYSE&G", "Avangrid"}},
		{12, "rge", "Rochester Gas and Electric", "", []string{"RG&E", "RGE", "Avangrid"}},
		{13, "central-hudson", "Central Hudson Gas & Electric", "", []string{"Central Hudson", "CenHud", "CHG&E"}},
		{14, "pseg-long-island", "PSEG Long Island", "", []string{"PSEG LI", "PSEG-LI", "LIPA"}},
		{15, "pseg", "Public Service Electric and Gas", "", []string{"PSE&G", "PSEG", "Public Service Electric & Gas"}},
		{16, "jcpl", "Jersey Central Power & Light", "", []string{"JCP&L", "JCPL", "FirstEnergy"}},
		{17, "met-ed", "Met-Ed", "", []string{"Metropolitan Edison", "MetEd", "FirstEnergy"}},
		{18, "penelec", "Penelec", "", []string{"Pennsylvania Electric Company", "FirstEnergy"}},
		{19, "ohio-edison", "Ohio Edison", "", []string{"FirstEnergy"}},
		{20, "peco", "PECO", "", []string{"PECO Energy", "Philadelphia Electric"}},
		{21, "ppl", "PPL Electric Utilities", "", []string{"PPL", "Pennsylvania Power & Light"}},
		{22, "duquesne-light", "Duquesne Light", "", []string{"DLC", "Duquesne Light Company"}},
		{23, "bge", "Baltimore Gas and Electric", "", []string{"BGE", "BG&E", "Baltimore Gas & Electric"}},
		{24, "pepco", "Pepco", "", []string{"Potomac Electric Power Company"}},
		{25, "delmarva", "Delmarva Power", "", []string{"Delmarva"}},
		{26, "atlantic-city-electric", "Atlantic City Electric", "", []string{"ACE"}},
		{27, "dominion-virginia", "Dominion Energy Virginia", "", []string{"Dominion", "Dominion Energy", "Virginia Power"}},
		{28, "duke-energy-carolinas", "Duke Energy Carolinas", "", []string{"Duke", "Duke Energy"}},
		{29, "duke-energy-progress", "Duke Energy Progress", "", []string{"Duke", "Duke Energy", "Progress Energy"}},
		{30, "duke-energy-florida", "Duke Energy Florida", "", []string{"Duke", "Duke Energy", "Progress Energy Florida"}},
		{31, "duke-energy-indiana", "Duke Energy Indiana", "", []string{"Duke", "Duke Energy"}},
		{32, "duke-energy-ohio", "Duke Energy Ohio", "", []string{"Duke", "Duke Energy"}},
		{33, "georgia-power", "Georgia Power", "", []string{"Southern Company"}},
		{34, "alabama-power", "Alabama Power", "", []string{"Southern Company", "APCo"}},
		{35, "fpl", "Florida Power & Light", "", []string{"FPL", "FP&L", "Florida Power and Light"}},
		{36, "tampa-electric", "Tampa Electric", "", []string{"TECO", "TECO Energy"}},
		{37, "comed", "ComEd", "", []string{"Commonwealth Edison", "Com Ed"}},
		{38, "ameren-illinois", "Ameren Illinois", "", []string{"Ameren"}},
		{39, "ameren-missouri", "Ameren Missouri", "", []string{"Ameren", "Union Electric"}},
		{40, "dte", "DTE Energy", "", []string{"DTE", "Detroit Edison"}},
		{41, "consumers-energy", "Consumers Energy", "", []string{"Consumers", "CMS Energy"}},
		{42, "aep-ohio", "AEP Ohio", "", []string{"AEP", "American Electric Power"}},
		{43, "appalachian-power", "Appalachian Power", "", []string{"AEP", "American Electric Power", "ApCo"}},
		{44, "indiana-michigan-power", "Indiana Michigan Power", "", []string{"AEP", "American Electric Power", "I&M"}},
		{45, "pso", "Public Service Company of Oklahoma", "", []string{"PSO", "AEP", "American Electric Power"}},
		{46, "swepco", "Southwestern Electric Power Company", "", []string{"SWEPCO", "AEP", "American Electric Power"}},
		{47, "aep-texas", "AEP Texas", "", []string{"AEP", "American Electric Power"}},
		{48, "oncor", "Oncor Electric Delivery", "", []string{"Oncor", "TXU"}},
		{49, "centerpoint", "CenterPoint Energy", "", []string{"CenterPoint", "CNP"}},
		{50, "entergy-louisiana", "Entergy Louisiana", "", []string{"Entergy"}},
		{51, "entergy-arkansas", "Entergy Arkansas", "", []string{"Entergy"}},
		{52, "cleco", "Cleco Power", "", []string{"Cleco"}},
		{53, "oge", "Oklahoma Gas and Electric", "", []string{"OG&E", "OGE", "Oklahoma Gas & Electric"}},
		{54, "evergy", "Evergy", "", []string{"KCP&L", "KCPL", "Westar Energy"}},
		{55, "xcel-colorado", "Xcel Energy (Colorado)", "", []string{"Xcel", "Xcel Energy", "Public Service Company of Colorado"}},
		{56, "xcel-minnesota", "Xcel Energy (Minnesota)", "", []string{"Xcel", "Xcel Energy", "Northern States Power"}},
		{57, "eversource-ma", "Eversource (Massachusetts)", "", []string{"Eversource", "NSTAR"}},
		{58, "eversource-ct", "Eversource (Connecticut)", "", []string{"Eversource", "CL&P", "Connecticut Light and Power"}},
		{59, "puget-sound-energy", "Puget Sound Energy", "", []string{"PSE", "Puget Sound"}},
		{60, "portland-general", "Portland General Electric", "", []string{"Portland General", "PGN"}},
		{61, "pacific-power", "Pacific Power", "", []string{"PacifiCorp"}},
		{62, "rocky-mountain-power", "Rocky Mountain Power", "", []string{"PacifiCorp", "RMP"}},
		{63, "aps", "Arizona Public Service", "", []string{"APS"}},
		{64, "srp", "Salt River Project", "", []string{"SRP"}},
		{65, "tep", "Tucson Electric Power", "", []string{"TEP"}},
		{66, "nv-energy", "NV Energy", "", []string{"NV Energy", "Nevada Power", "Sierra Pacific Power"}},
		{67, "idaho-power", "Idaho Power", "", []string{"IPC"}},
		{68, "avista", "Avista Utilities", "", []string{"Avista"}},
		{69, "hawaiian-electric", "Hawaiian Electric", "", []string{"HECO", "Hawaiian Electric Company"}},
		{70, "peoples-gas", "Peoples Gas", "", []string{"Peoples Gas Chicago"}},
		{71, "nicor-gas", "Nicor Gas", "", []string{"Nicor"}},
		{72, "southwest-gas", "Southwest Gas", "", []string{"SWG", "SW Gas"}},
		{73, "atmos-energy", "Atmos Energy", "", []string{"Atmos"}},
		{74, "washington-gas", "Washington Gas", "", []string{"WGL"}},
		{75, "piedmont-natural-gas", "Piedmont Natural Gas", "", []string{"Piedmont"}},
		{76, "columbia-gas-ohio", "Columbia Gas of Ohio", "", []string{"Columbia Gas", "NiSource"}},
		{77, "columbia-gas-pennsylvania", "Columbia Gas of Pennsylvania", "", []string{"Columbia Gas", "NiSource"}},
		{78, "nw-natural", "NW Natural", "", []string{"Northwest Natural", "Northwest Natural Gas"}},
		{79, "spire", "Spire", "", []string{"Spire Energy", "Laclede Gas"}},
		{80, "we-energies", "We Energies", "", []string{"WE Energies", "Wisconsin Electric"}},
		{81, "austin-energy", "Austin Energy", "", nil},
		{82, "seattle-city-light", "Seattle City Light", "", []string{"SCL"}},
		{83, "cps-energy", "CPS Energy", "", []string{"CPS", "San Antonio"}},
		{84, "nipsco", "NIPSCO", "", []string{"Northern Indiana Public Service Company", "NiSource"}},
		{85, "green-mountain-power", "Green Mountain Power", "", []string{"GMP"}},
		// The demo utility website (package demoutility); reached only when
		// the process registers its connector (gridlink dev, or serve with
		// --demo-utility-url), else listed as unsupported.
		{86, "demo-power", "Demo Power & Light", ConnectorDemoPower, []string{"Demo Power and Light", "Demo utility"}},
		// The local Green Button Connect My Data custodian (package
		// espicustodian); reached only under gridlink dev, which registers
		// its connector, else listed as unsupported.
		{87, "demo-greenbutton", "Demo Green Button Utility", ConnectorDemoGreenButton, []string{"Green Button", "Demo Green Button", "ESPI"}},

		// The sandbox sits at a fixed high id, apart from the real utilities.
		{SandboxID, SandboxSlug, "gridlink Sandbox", ConnectorSandbox, []string{"Sandbox", "Test utility", "Demo"}},
	}
}
